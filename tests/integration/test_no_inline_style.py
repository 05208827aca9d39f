"""Issue 11 case 7: nothing the site renders uses style=, which its own CSP (style-src 'self')
blocks; the SyncRun admin's outcome badge lost its colour that way. Colours come from classes."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import SyncRun

REPO = Path(__file__).resolve().parents[2]
INLINE_STYLE = re.compile(r"""<[a-zA-Z][^>]*\sstyle\s*=""", re.IGNORECASE)


def test_no_template_or_python_source_writes_an_inline_style():
    """Mail is the exception: a mail client applies no CSP and reads no site stylesheet."""
    offenders = []
    sources = [*REPO.glob("templates/**/*.html")]
    for app in ("accounts", "campaigns", "tokens", "webui"):
        sources += [*REPO.glob(f"{app}/**/*.py"), *REPO.glob(f"{app}/**/*.html")]
    for path in sources:
        if "email" in path.parts or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if INLINE_STYLE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders, offenders


@pytest.mark.django_db
def test_sync_run_outcomes_are_coloured_by_class(client, admin):
    for outcome in ("success", "failed", "halted", "running"):
        SyncRun.objects.create(idp="dev", outcome=outcome)
    client.force_login(admin)
    response = client.get(reverse("admin:accounts_syncrun_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    for outcome in ("success", "failed", "halted"):
        assert f'class="outcome outcome-{outcome}"' in html
    assert not INLINE_STYLE.search(html.split("<body", 1)[1].split('id="result_list"')[1])
    assert "css/admin.css" in html
    css = (REPO / "static/css/admin.css").read_text()
    assert ".outcome-failed" in css
