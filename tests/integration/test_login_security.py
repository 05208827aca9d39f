"""Login as an attacker sees it: what error reports show, and session fixation.

Logins go to tests/harness/rogue_idp.py (a loopback provider the test controls).
"""

import pytest
from django.test import RequestFactory
from django.views.debug import SafeExceptionReporterFilter

from accounts.models import AuditEvent
from accounts.oidc.views import PENDING_LOGIN

pytestmark = pytest.mark.django_db


def start(client, rogue) -> dict:
    response = client.get("/login/rogue/")
    assert response.status_code == 302
    return rogue.authorize(response["Location"])


def reported_values(exc: BaseException) -> list[str]:
    """The locals of the portal's and Django's frames as an error report would show them (the
    test's own frames, which hold the secrets on purpose, are left out)."""
    reporter, request = SafeExceptionReporterFilter(), RequestFactory().get("/")
    shown, tb = [], exc.__traceback__
    while tb is not None:
        if "/tests/" not in tb.tb_frame.f_code.co_filename:
            variables = reporter.get_traceback_frame_variables(request, tb.tb_frame)
            shown += [repr(value) for _, value in variables]
        tb = tb.tb_next
    assert len(shown) > 10  # the walk went through the view, the backend and Django
    return shown


def test_error_reports_of_a_failed_login_never_show_its_tokens(
    client, rogue_member, rogue_idp, monkeypatch, settings
):
    from tokens import services

    store = services.login_token_store
    seen = {}

    def store_then_fail(**kwargs):
        seen.update(kwargs["token_response"])
        store(**kwargs)
        raise RuntimeError("injected")

    # Fault injection: the database does not fail on its own here; crash after the tokens are in
    # hand, with them in the locals of every frame between the view and this one.
    monkeypatch.setattr("tokens.receivers.services.login_token_store", store_then_fail)
    settings.DEBUG = False
    client.raise_request_exception = True
    with pytest.raises(RuntimeError) as crash:
        client.get("/oidc/callback/", start(client, rogue_idp))
    shown = "\n".join(reported_values(crash.value))
    assert seen["access_token"] and seen["refresh_token"] and seen["id_token"]
    for secret in (seen["access_token"], seen["refresh_token"], seen["id_token"][:40]):
        assert secret not in shown
    assert "rogue-client-secret" not in shown


def test_error_reports_of_a_logout_never_show_the_id_token(
    client, rogue_member, rogue_idp, monkeypatch
):
    from accounts.oidc import views
    from tokens.models import Token

    client.get("/oidc/callback/", start(client, rogue_idp))
    id_token = Token.objects.get().id_token

    def fail(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(views, "urlencode", fail)  # fault injection after id_token_hint is set
    client.raise_request_exception = True
    with pytest.raises(RuntimeError) as crash:
        client.post("/logout/")
    assert id_token[:40] not in "\n".join(reported_values(crash.value))


def test_logging_in_gives_the_browser_a_new_session_key(client, rogue_member, rogue_idp):
    query = start(client, rogue_idp)
    before = client.session.session_key
    assert client.get("/oidc/callback/", query).status_code == 302
    assert client.session.session_key != before


def test_a_verified_unknown_identity_gets_a_new_session_key(client, rogue_idp):
    """A session planted before the login must not hold the identity the provider vouched for."""
    query = start(client, rogue_idp)
    planted = client.session.session_key
    response = client.get("/oidc/callback/", query)
    assert response["Location"] == "/register/"
    assert PENDING_LOGIN in client.session
    assert client.session.session_key != planted


def test_a_providers_repr_hides_its_secrets():
    from pathlib import Path

    from accounts.idps import parse_idpsecrets

    providers = parse_idpsecrets(
        {
            "iam": {
                "issuer": "https://iam.example.org/",
                "client_id": "portal",
                "client_secret": "login-secret-value",
                "SCIM": {"client_id": "sync", "client_secret": "scim-secret-value"},
            }
        },
        Path("idpsecrets.json"),
    )
    shown = repr(providers) + str(providers["iam"])
    assert "portal" in shown and "sync" in shown
    assert "login-secret-value" not in shown and "scim-secret-value" not in shown


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example.org",
        "/\\evil.example.org",
        "\\/evil.example.org",
        "https:evil.example.org",
        "https:/evil.example.org",
        "http:\\\\evil.example.org",
        "///evil.example.org",
        " //evil.example.org",
        "\t//evil.example.org",
        "/\t/evil.example.org",
        "//testserver@evil.example.org",
        "http://testserver@evil.example.org/",
        "%2F%2Fevil.example.org",
        "/%2F/evil.example.org",
        "/%5Cevil.example.org",
        "java\nscript:alert(1)",
    ],
)
def test_next_never_leads_off_the_site(next_url):
    """What the browser would make of `next` as a Location: never another host."""
    from urllib.parse import urlsplit

    from accounts.oidc.flow import safe_next

    kept = safe_next(RequestFactory().get("/"), next_url)
    if kept is not None:
        as_browser = kept.replace("\\", "/").replace("\t", "").strip()
        assert not as_browser.startswith("//")
        assert urlsplit(as_browser).netloc in ("", "testserver")
        assert urlsplit(as_browser).scheme in ("", "http")


PROXY = "10.0.0.2"


@pytest.mark.django_db
def test_a_forwarded_for_that_is_not_an_address_does_not_break_the_login(
    client, rogue_idp, settings
):
    """The callback records the address in the audit log (an inet column): 500 before."""
    settings.GATEHOUSE_TRUSTED_PROXIES = [PROXY]
    response = client.get(
        "/oidc/callback/", {"state": "x"}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="unknown"
    )
    assert response.status_code == 400
    assert AuditEvent.objects.get(action="login.refused").ip == PROXY
