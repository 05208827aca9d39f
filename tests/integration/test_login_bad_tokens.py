"""A provider that sends bad ID tokens: every login ends on a clear error page, with no session.

The provider here is tests/harness/rogue_idp.py, a small stdlib HTTP server on loopback. It stands
in for a misbehaving provider because a certified one (the dev IdP is node-oidc-provider) cannot
be made to send bad tokens. The portal side is real: its views, backend and checks, the database,
and HTTP to the provider.
"""

import logging
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.models import AuditEvent
from tokens.models import Token


@pytest.fixture
def rogue(rogue_idp):
    return rogue_idp


def start(client, rogue) -> dict:
    response = client.get("/login/rogue/")
    assert response.status_code == 302
    return rogue.authorize(response["Location"])


def assert_refused(response, reason: str, sentence: str, caplog) -> None:
    assert response.status_code in (400, 403)
    assert SESSION_KEY not in response.wsgi_request.session
    assert not Token.objects.exists()
    body = response.content.decode()
    assert "Login failed" in body
    assert sentence in body
    assert "Try again" in body and 'href="/login/rogue/"' in body
    event = AuditEvent.objects.get(action="login.refused")
    assert event.detail["reason"] == reason
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"reason={reason}" in logged
    assert "eyJ" not in logged  # no JWT (header or payload) in the log


def test_a_good_token_logs_in(client, rogue_member, rogue):
    """The control: with nothing crafted, the same provider does log in."""
    response = client.get("/oidc/callback/", start(client, rogue))
    assert response.status_code == 302 and response["Location"] == "/"
    assert response.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)
    assert rogue.token_requests[0]["pkce_ok"] is True
    token = Token.objects.get()
    assert token.account == rogue_member and token.refresh_token and token.id_token
    assert token.refresh and token.refresh_lifetime.total_seconds() == 96 * 3600
    assert token.refresh_start and token.ip == "127.0.0.1"
    assert AuditEvent.objects.filter(action="login.success", account=rogue_member).exists()


@pytest.mark.parametrize(
    ("knob", "value", "reason", "sentence"),
    [
        ("aud", "someone-else", "bad_audience", "was issued for another application"),
        ("aud", ["someone-else", "and-another"], "bad_audience", "another application"),
        ("azp", "someone-else", "bad_audience", "was issued for another application"),
        ("iss", "https://evil.example.org/", "bad_issuer", "issued by someone else"),
        ("exp", int(time.time()) - 3600, "expired", "has expired"),
        ("iat", int(time.time()) + 3600, "not_yet_valid", "is not valid yet"),
        ("nbf", int(time.time()) + 3600, "not_yet_valid", "is not valid yet"),
        ("nonce", "not-the-nonce", "bad_nonce", "does not belong to the login you started"),
    ],
)
def test_bad_claims_are_refused(client, rogue_member, rogue, caplog, knob, value, reason, sentence):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.id_token_claims[knob] = value
    assert_refused(client.get("/oidc/callback/", query), reason, sentence, caplog)


def test_expiry_within_the_leeway_is_accepted(client, rogue_member, rogue):
    query = start(client, rogue)
    rogue.id_token_claims["exp"] = int(time.time()) - 30
    response = client.get("/oidc/callback/", query)
    assert response.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)


def test_bad_signature_is_refused(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.sign_with = "stranger"  # the published kid, another key
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "bad_signature", "signature that does not verify", caplog)


@pytest.mark.parametrize("alg", ["none", "hs256"])
def test_unsigned_and_symmetric_tokens_are_refused(client, rogue_member, rogue, caplog, alg):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.sign_with = alg
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "bad_algorithm", "which this portal does not accept", caplog)


def test_an_algorithm_that_is_not_a_name_is_refused(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.id_token_header = {"alg": ["RS256"]}
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "bad_algorithm", "which this portal does not accept", caplog)


def test_keys_named_in_the_token_header_are_ignored(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.sign_with = "stranger"
    rogue.id_token_header = {"jku": f"{rogue.issuer}/evil-jwks", "kid": "not-published"}
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "unknown_key", "does not publish", caplog)


def test_an_es256_token_is_accepted(client, rogue_member, rogue):
    query = start(client, rogue)
    rogue.sign_with = "ec"
    response = client.get("/oidc/callback/", query)
    assert response.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)


def test_userinfo_about_someone_else_is_refused(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.userinfo_sub = "someone-else"
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "userinfo_sub_mismatch", "described someone else", caplog)


def test_a_replayed_state_is_refused(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    first = client.get("/oidc/callback/", query)
    assert first.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)
    Token.objects.all().delete()
    AuditEvent.objects.all().delete()

    replay = client.get("/oidc/callback/", query)
    assert replay.status_code == 400
    # A callback anyone can send a browser to leaves the session alone (issue 11 case 4).
    assert replay.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)
    body = replay.content.decode()
    assert "already used" in body and 'href="/login/"' in body  # no provider known: start over
    assert AuditEvent.objects.get(action="login.refused").detail["reason"] == "state_unknown"
    assert not Token.objects.exists()
    assert len(rogue.token_requests) == 1  # the provider was never asked to redeem it again


def test_a_state_from_another_browser_is_refused(client, rogue_member, rogue):
    query = start(client, rogue)
    other = Client()
    response = other.get("/oidc/callback/", query)
    assert response.status_code == 400
    assert SESSION_KEY not in response.wsgi_request.session
    assert not rogue.token_requests


def test_an_answer_naming_another_issuer_is_refused(client, rogue_member, rogue):
    query = {**start(client, rogue), "iss": "https://other-provider.example.org/"}
    response = client.get("/oidc/callback/", query)
    assert response.status_code == 400
    assert SESSION_KEY not in response.wsgi_request.session
    assert not rogue.token_requests


def test_signed_userinfo_is_verified(client, rogue_member, rogue):
    query = start(client, rogue)
    rogue.userinfo_signed_with = "rsa"
    response = client.get("/oidc/callback/", query)
    assert response.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)


def test_signed_userinfo_with_a_bad_signature_is_refused(client, rogue_member, rogue, caplog):
    caplog.set_level(logging.INFO)
    query = start(client, rogue)
    rogue.userinfo_signed_with = "stranger"
    response = client.get("/oidc/callback/", query)
    assert_refused(response, "bad_signature", "The userinfo from Rogue IdP has a signature", caplog)


def test_login_and_inspection_share_one_key_cache(client, rogue_member, rogue):
    """Login fetches the provider's keys once; inspecting a token of the same provider then
    verifies its signature from that cache (accounts.keys via accounts.idps.key_source)."""
    from tokens.inspect import inspect

    response = client.get("/oidc/callback/", start(client, rogue))
    assert response.wsgi_request.session[SESSION_KEY] == str(rogue_member.pk)
    assert rogue.jwks_requests == 1
    report = inspect(Token.objects.get().id_token)
    assert report.inspection.check("signature").status.name == "PASS"
    assert rogue.jwks_requests == 1


def _login_with_kid(rogue, kid: str):
    browser = Client()
    query = start(browser, rogue)
    rogue.id_token_header = {"kid": kid}
    return browser.get("/oidc/callback/", query)


def test_an_unknown_key_id_is_looked_up_again_at_most_once_per_interval(
    client, rogue_member, rogue, settings
):
    from accounts import idps

    settings.GATEHOUSE_KEYS_REFETCH_SECONDS = 3600  # the setting, not a constant, decides
    idps.key_source.cache_clear()
    try:
        client.get("/oidc/callback/", start(client, rogue))
        assert rogue.jwks_requests == 1
        for _ in range(3):
            assert _login_with_kid(rogue, "rotated-away").status_code == 403
        assert rogue.jwks_requests == 1  # within the interval: no refetch for unknown kids
        settings.GATEHOUSE_KEYS_REFETCH_SECONDS = 0
        idps.key_source.cache_clear()
        _login_with_kid(rogue, "rotated-away")  # a new cache: its first fetch
        response = _login_with_kid(rogue, "rotated-away")  # an unknown kid: fetched again
        assert rogue.jwks_requests == 3
        assert "does not publish" in response.content.decode()
        refused = AuditEvent.objects.filter(action="login.refused", detail__reason="unknown_key")
        assert refused.count() == 5
    finally:
        idps.key_source.cache_clear()
