"""The code paths with an SQLite branch (what `make run` uses) pass on SQLite too.

Tests marked `sqlite` run twice: on PostgreSQL with the rest of the suite, and here, in a
pytest of their own on a fresh SQLite database (`--sqlite`, tests/harness/plugin.py). They
cover the SQLite branches of tokens/services.py (refresh, clean-up), accounts/scim/apply.py,
accounts/scim/sync.py (the process lock), campaigns/exports/selection.py, and the prepared reads
of accounts/prepared.py (SQLite binds dates as text) with the campaign pages built on them.
"""

import os
import re
import subprocess
import sys

import pytest
from django.db import connection

from tests.harness.celery_worker import REPO


@pytest.mark.sqlite
@pytest.mark.django_db
def test_the_database_is_the_one_asked_for(request):
    expected = "sqlite" if request.config.getoption("sqlite") else "postgresql"
    assert connection.vendor == expected


@pytest.mark.slow
def test_the_make_run_paths_pass_on_sqlite():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--sqlite"]
        + ["tests/integration"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b(1[7-9]|[2-9]\d) passed\b", summary), summary
    assert "skipped" not in summary and "error" not in summary, summary
