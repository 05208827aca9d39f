import re

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_anonymous_visitor_learns_what_this_is_and_how_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "One gate to your data centre" in html
    assert f'href="{reverse("login")}"' in html
    assert "Welcome back" not in html


@pytest.mark.django_db
def test_logged_in_user_sees_their_account_campaigns_and_tokens(client, member):
    client.force_login(member)
    html = client.get(reverse("home")).content.decode()
    assert "Welcome back" in html
    assert f"UID {member.uid}" in html
    assert "Your campaigns" in html and "Your tokens" in html


@pytest.mark.django_db
def test_every_script_carries_the_csp_nonce_and_the_policy_allows_no_inline_script(client):
    response = client.get(reverse("home"))
    policy = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    scripts = re.findall(r"<script[^>]*>", response.content.decode())
    assert scripts, "htmx should be on the page"
    assert all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_htmx_requests_carry_the_csrf_token(client):
    html = client.get(reverse("home")).content.decode()
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[^\"]+\"\}'>", html)


def test_secrets_can_come_from_a_file(tmp_path, monkeypatch):
    from webui.settings import envsecret

    path = tmp_path / "secret"
    path.write_text("from-file\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(path))
    monkeypatch.setenv("SOME_SECRET", "from-env")
    assert envsecret("SOME_SECRET") == "from-file"
