"""Login against the real dev IdP (node-oidc-provider), driven over HTTP with Django's test client.

The provider's own login form is filled by tests/harness/idp.py (`RunningIdP.login`); the browser
versions of these flows are in tests/browser/test_login.py.
"""

import hashlib
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.identities import oidc_identity
from accounts.models import Account, AuditEvent, Identity, Registration
from accounts.services import registration_approve
from tests.conftest import IDP_USERS
from tests.harness.idp import start_idp
from tests.harness.idpsecrets import use_idpsecrets
from tokens.models import Token

ALICE = IDP_USERS["wlcg"][0]


def provider_login(client, idp, user: dict, nickname: str = "wlcg", next_url: str = ""):
    """Start at /login/<nickname>/, sign in at the provider, come back to the callback."""
    start = client.get(f"/login/{nickname}/", {"next": next_url} if next_url else {})
    assert start.status_code == 302, start.content
    callback = idp.login(start["Location"], username=user["username"], password=user["password"])
    parts = urlsplit(callback)
    assert parts.path == "/oidc/callback/"
    return client.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})


def test_first_login_registers_then_logs_in_after_approval(client, idpsecrets, idp_wlcg, admin):
    response = provider_login(client, idp_wlcg, ALICE)
    assert response.status_code == 302 and response["Location"] == "/register/"
    assert SESSION_KEY not in client.session

    form = client.get("/register/")
    assert form.status_code == 200
    assert form.context["form"].initial == {
        "requested_name": "alice",
        "email": "alice@example.org",
        "display_name": "Alice Archer",
    }
    sent = client.post(
        "/register/",
        {"requested_name": "alice", "email": "alice@example.org", "display_name": "Alice Archer"},
    )
    assert sent.status_code == 302 and sent["Location"] == "/register/waiting/"
    registration = Registration.objects.get()
    identity = oidc_identity(issuer=idp_wlcg.issuer, sub=ALICE["sub"])
    assert registration.identity == identity and registration.idp == "wlcg"
    assert "Waiting for approval" in client.get("/register/waiting/").content.decode()

    # Logging in again while waiting lands on the waiting page, not a second form.
    again = provider_login(client, idp_wlcg, ALICE)
    assert again["Location"] == "/register/waiting/"
    assert Registration.objects.count() == 1

    account = registration_approve(registration=registration, actor=admin)
    linked = Identity.objects.get(identity=identity)
    assert linked.account == account and linked.source == "login" and account.uid

    done = provider_login(client, idp_wlcg, ALICE, next_url="/campaigns/?page=2")
    assert done.status_code == 302 and done["Location"] == "/campaigns/?page=2"
    assert client.session[SESSION_KEY] == str(account.pk)
    token = Token.objects.get(account=account)
    assert token.refresh_token, "offline_access was offered, so a refresh token is kept"
    assert "offline_access" in token.scope and token.id_token and token.identity == linked
    assert token.audience == idp_wlcg.token_audience
    reasons = list(
        AuditEvent.objects.filter(action="login.refused").values_list("detail__reason", flat=True)
    )
    assert sorted(reasons) == ["registration_needed", "registration_pending"]
    assert AuditEvent.objects.filter(action="login.success", account=account).count() == 1


def test_tokens_never_reach_the_cookie_or_the_session(client, idpsecrets, idp_wlcg, member):
    Identity.objects.create(
        account=member,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=idp_wlcg.issuer, sub=ALICE["sub"]),
    )
    provider_login(client, idp_wlcg, ALICE)
    token = Token.objects.get(account=member)
    stored = "".join(str(v) for v in client.session.values())
    cookies = "".join(c.value for c in client.cookies.values())
    for secret in (token.token, token.refresh_token, token.id_token):
        assert secret not in stored and secret not in cookies
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, refresh_token FROM tokens_token WHERE id = %s", [token.pk])
        at_rest = " ".join(cursor.fetchone())
    assert token.token not in at_rest and token.refresh_token not in at_rest
    assert token.token_hash == hashlib.sha256(token.token.encode()).hexdigest()


def test_logout_ends_the_session_and_goes_to_the_provider(client, idpsecrets, idp_wlcg, member):
    Identity.objects.create(
        account=member,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=idp_wlcg.issuer, sub=ALICE["sub"]),
    )
    provider_login(client, idp_wlcg, ALICE)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert SESSION_KEY not in client.session
    target = urlsplit(response["Location"])
    end_session = idp_wlcg.discovery()["end_session_endpoint"]
    assert f"{target.scheme}://{target.netloc}{target.path}" == end_session
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/"]
    assert query["id_token_hint"] == [Token.objects.get(account=member).id_token]


def test_suspended_account_is_refused_with_the_reason(client, idpsecrets, idp_wlcg, member):
    Identity.objects.create(
        account=member,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=idp_wlcg.issuer, sub=ALICE["sub"]),
    )
    Account.objects.filter(pk=member.pk).update(
        status=Account.Status.SUSPENDED, status_reason="Your AUP signature expired"
    )
    response = provider_login(client, idp_wlcg, ALICE)
    assert response.status_code == 403
    assert "is suspended: Your AUP signature expired" in response.content.decode()
    assert SESSION_KEY not in client.session
    event = AuditEvent.objects.get(action="login.refused")
    assert event.account == member and event.detail["reason"] == "account_suspended"


def test_check_idps_passes_for_running_providers(idpsecrets):
    out = StringIO()
    call_command("check_idps", stdout=out)
    table = out.getvalue()
    assert table.count(" pass ") == 7  # discovery, issuer and keys for both; the SCIM client
    assert "client_credentials not allowed" in table  # the login client: a warning, not a failure
    assert "All 2 providers are usable." in table


def test_check_idps_fails_for_a_stopped_provider(idpsecrets, settings, tmp_path, idp_wlcg):
    with start_idp(workdir=tmp_path / "gone", clients=[], users=[]) as gone:
        issuer = gone.issuer
    entries = {
        "wlcg": {
            "issuer": idp_wlcg.issuer,
            "client_id": "gatehouse-test",
            "client_secret": "gatehouse-test-secret",
        },
        "gone": {"issuer": issuer, "client_id": "x", "client_secret": "y"},
    }
    use_idpsecrets(settings, tmp_path / "idpsecrets.json", entries)
    out = StringIO()
    with pytest.raises(CommandError, match="failed for gone"):
        call_command("check_idps", stdout=out)
    table = out.getvalue()
    assert re.search(r"^gone +discovery +FAIL +gone is not answering", table, re.M)
    assert re.search(r"^wlcg +discovery +pass", table, re.M)
