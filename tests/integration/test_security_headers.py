"""The headers and cookies every page carries (production's Secure/HSTS: test_deploy_check.py)."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["home", "login", "tokens:inspect", "campaigns:list"])
def test_pages_cannot_be_framed_sniffed_or_leak_their_address(client, name):
    response = client.get(reverse(name))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(
        (part.split(" ", 1) + [""])[:2] for part in response["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == "'self'"
    assert re.fullmatch(r"'self' 'nonce-[\w-]+'", policy["script-src"])
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_a_new_nonce_for_every_response(client):
    first = client.get(reverse("home"))["Content-Security-Policy"]
    assert first != client.get(reverse("home"))["Content-Security-Policy"]


def test_cookies_are_out_of_reach_of_scripts_and_other_sites(client, rogue_idp):
    client.get(reverse("tokens:inspect"))  # a page with a form sets the CSRF cookie
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    client.get(reverse("oidc_login_start", args=["rogue"]))  # the login's state: a session
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


@pytest.mark.parametrize("name", ["tokens:inspect"])
def test_token_pages_are_never_cached(client, name):
    assert "no-store" in client.get(reverse(name))["Cache-Control"]


def test_a_token_detail_page_is_never_cached(client, member):
    import datetime

    from django.utils import timezone

    from accounts.crypto import token_hash
    from tokens.models import Token

    token = Token.objects.create(
        account=member,
        token="a.b.c",
        token_hash=token_hash("a.b.c"),
        expires_at=timezone.now() + datetime.timedelta(hours=1),
    )
    client.force_login(member)
    response = client.get(reverse("tokens:detail", args=[token.pk]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
