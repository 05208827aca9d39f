"""Token screens: who may use each view and who may not, against a real loopback issuer."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import AuditEvent
from campaigns.models import Campaign
from tests.harness.jwks_server import LoopbackIssuer
from tokens.models import StorageElement, Token
from tokens.selectors import campaign_token_scopes

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def issuer():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture(autouse=True)
def trusted_issuer(settings, tmp_path, issuer):
    """The loopback issuer as the configured provider `test`, plus one storage element."""
    secrets = tmp_path / "idpsecrets.json"
    secrets.write_text(
        json.dumps(
            {
                "test": {
                    "issuer": issuer.issuer,
                    "client_id": "gatehouse",
                    "client_secret": "secret",
                    "display_name": "Test IAM",
                    "storage_base_path": "/vo",
                }
            }
        )
    )
    settings.GATEHOUSE_IDPSECRETS = str(secrets)
    StorageElement.objects.create(
        name="dcache",
        audiences=["https://storage.example.org"],
        issuer_base_paths={issuer.issuer: "/pnfs/example.org/vo"},
    )


def hold_token(issuer, account, *, expires_in=1200, refresh="", **claims) -> Token:
    raw = issuer.sign(issuer.claims(sub=f"sub-{account.name}", **claims))
    return Token.objects.create(
        account=account,
        idp="test",
        token_hash=token_hash(raw),
        token=raw,
        scope=issuer.claims(**claims)["scope"],
        audience="https://storage.example.org",
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        refresh_token=refresh,
        refresh_expires_at=timezone.now() + timedelta(days=10) if refresh else None,
    )


def client_for(account=None, **kwargs) -> Client:
    client = Client(**kwargs)
    if account is not None:
        client.force_login(account)
    return client


# ---- My tokens -----------------------------------------------------------------------------


def test_my_tokens_needs_login(issuer, member):
    hold_token(issuer, member)
    response = client_for().get(reverse("tokens:mine"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_my_tokens_lists_only_my_tokens(issuer, member, outsider):
    mine = hold_token(issuer, member, scope="storage.read:/mine")
    hold_token(issuer, outsider, scope="storage.read:/theirs")
    response = client_for(member).get(reverse("tokens:mine"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "storage.read:/mine" in body
    assert "storage.read:/theirs" not in body
    assert reverse("tokens:detail", args=[mine.pk]) in body
    assert mine.token not in body
    assert "Test IAM" in body


def test_my_tokens_shows_states(issuer, member):
    hold_token(issuer, member, expires_in=-600, refresh="refresh-secret")
    hold_token(issuer, member, expires_in=-600, scope="storage.read:/gone")
    body = client_for(member).get(reverse("tokens:mine")).content.decode()
    assert "badge-refreshable" in body
    assert "badge-expired" in body
    assert "refresh-secret" not in body


# ---- All tokens (admins) --------------------------------------------------------------------


def test_all_tokens_needs_login(client):
    response = client.get(reverse("tokens:all"))
    assert response.status_code == 302


def test_all_tokens_is_refused_to_non_admins(issuer, member):
    hold_token(issuer, member)
    assert client_for(member).get(reverse("tokens:all")).status_code == 403


def test_all_tokens_lists_every_account_with_filters(issuer, admin, member, outsider):
    hold_token(issuer, member, scope="storage.read:/m")
    hold_token(issuer, outsider, scope="storage.read:/o", expires_in=-60)
    client = client_for(admin)
    body = client.get(reverse("tokens:all")).content.decode()
    assert "storage.read:/m" in body and "storage.read:/o" in body
    filtered = client.get(reverse("tokens:all"), {"account": "memb", "state": "valid"})
    assert "storage.read:/m" in filtered.content.decode()
    assert "storage.read:/o" not in filtered.content.decode()
    expired = client.get(reverse("tokens:all"), {"state": "expired", "idp": "test"})
    assert "storage.read:/o" in expired.content.decode()
    assert "storage.read:/m" not in expired.content.decode()


# ---- Token detail ---------------------------------------------------------------------------


def test_token_detail_needs_login(issuer, member):
    token = hold_token(issuer, member)
    assert client_for().get(reverse("tokens:detail", args=[token.pk])).status_code == 302


def test_token_detail_for_the_owner(issuer, member):
    token = hold_token(issuer, member)
    response = client_for(member).get(reverse("tokens:detail", args=[token.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "This token is valid" in body
    assert "Signature verified" in body
    assert token.token not in body
    assert token.token.split(".")[2] not in body
    assert "Issuer: who made and signed the token" in body  # claim explanations
    assert response["Cache-Control"].startswith("max-age=0")


def test_token_detail_at_a_storage_element_uses_its_base_path(issuer, member):
    token = hold_token(issuer, member, scope="storage.read:/data")
    response = client_for(member).get(
        reverse("tokens:detail", args=[token.pk]),
        {"target": "se:dcache", "operation": "read", "path": "/pnfs/example.org/vo/data/f"},
    )
    body = response.content.decode()
    assert "The audience includes https://storage.example.org." in body
    assert "Allowed by storage.read:/data" in body


def test_token_detail_is_hidden_from_other_people(issuer, member, outsider):
    token = hold_token(issuer, member)
    assert client_for(outsider).get(reverse("tokens:detail", args=[token.pk])).status_code == 404


def test_token_detail_for_an_admin(issuer, admin, member):
    token = hold_token(issuer, member)
    response = client_for(admin).get(reverse("tokens:detail", args=[token.pk]))
    assert response.status_code == 200
    assert "Revoke this token" in response.content.decode()


# ---- Delete / revoke ------------------------------------------------------------------------


def test_delete_needs_login(issuer, member):
    token = hold_token(issuer, member)
    response = client_for().post(reverse("tokens:delete", args=[token.pk]))
    assert response.status_code == 302
    assert Token.objects.filter(pk=token.pk).exists()


def test_delete_needs_post(issuer, member):
    token = hold_token(issuer, member)
    response = client_for(member).get(reverse("tokens:delete", args=[token.pk]))
    assert response.status_code == 405
    assert Token.objects.filter(pk=token.pk).exists()


def test_delete_needs_csrf(issuer, member):
    token = hold_token(issuer, member)
    client = client_for(member, enforce_csrf_checks=True)
    assert client.post(reverse("tokens:delete", args=[token.pk])).status_code == 403
    assert Token.objects.filter(pk=token.pk).exists()


def test_delete_is_refused_to_other_people(issuer, member, outsider):
    token = hold_token(issuer, member)
    response = client_for(outsider).post(reverse("tokens:delete", args=[token.pk]))
    assert response.status_code == 404
    assert Token.objects.filter(pk=token.pk).exists()


def test_owner_deletes_a_token(issuer, member):
    token = hold_token(issuer, member)
    response = client_for(member).post(reverse("tokens:delete", args=[token.pk]))
    assert response.status_code == 302
    assert response.url == reverse("tokens:mine")
    assert not Token.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="token.delete")
    assert event.actor == member and event.account == member
    assert token.token not in json.dumps(event.detail) + event.target


def test_admin_revokes_a_token(issuer, admin, member):
    token = hold_token(issuer, member)
    response = client_for(admin).post(reverse("tokens:delete", args=[token.pk]))
    assert response.url == reverse("tokens:all")
    assert not Token.objects.filter(pk=token.pk).exists()
    event = AuditEvent.objects.get(action="token.revoke")
    assert event.actor == admin and event.account == member


# ---- Inspect a token ------------------------------------------------------------------------


def test_inspect_page_is_open_to_everyone(client):
    response = client.get(reverse("tokens:inspect"))
    assert response.status_code == 200
    assert 'name="token"' in response.content.decode()


def test_inspect_valid_token_without_javascript(issuer, client):
    raw = issuer.sign(issuer.claims())
    response = client.post(
        reverse("tokens:inspect"),
        {
            "token": raw,
            "target": "se:dcache",
            "operation": "create",
            "path": "/pnfs/example.org/vo/data/upload/x",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert "This token is valid for https://storage.example.org" in body
    assert "Allowed by storage.create:/data/upload" in body
    assert raw not in body
    assert raw[:40] not in body and raw[-40:] not in body
    assert response["Cache-Control"].startswith("max-age=0")


def test_inspect_with_htmx_returns_only_the_result(issuer, client):
    raw = issuer.sign(issuer.claims(exp=1))
    response = client.post(
        reverse("tokens:inspect"), {"token": raw}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="result"')
    assert "<html" not in body
    assert "would be refused" in body
    assert raw not in body
    assert "HX-Request" in response["Vary"]


def test_inspect_needs_csrf(issuer):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("tokens:inspect"), {"token": issuer.sign(issuer.claims())})
    assert response.status_code == 403


def test_inspect_for_rucio_checks_the_expected_scope(issuer, client, settings):
    settings.GATEHOUSE_EXPECTED_SCOPE = "openid profile"
    raw = issuer.sign(issuer.claims(aud="rucio", scope="openid"))
    body = client.post(
        reverse("tokens:inspect"), {"token": raw, "target": "rucio"}
    ).content.decode()
    assert "The scope lacks profile" in body


def test_inspect_trusts_extra_issuers_from_settings(settings, client):
    with LoopbackIssuer() as extra:
        settings.GATEHOUSE_EXTRA_ISSUERS = json.dumps([{"issuer": extra.issuer, "name": "Extra"}])
        raw = extra.sign(extra.claims())
        body = client.post(reverse("tokens:inspect"), {"token": raw}).content.decode()
    assert "Issued by Extra, a trusted issuer." in body


def test_inspect_refuses_an_untrusted_issuer(client):
    with LoopbackIssuer() as stranger:
        raw = stranger.sign(stranger.claims())
        body = client.post(reverse("tokens:inspect"), {"token": raw}).content.decode()
        assert stranger.total_requests == 0
    assert "is not trusted here" in body


# ---- Campaign hook --------------------------------------------------------------------------


def test_campaign_scopes_hook(issuer, pi):
    from django.template.loader import render_to_string

    campaign = Campaign.objects.create(
        slug="c1", title="C1", pi=pi, gid=30000001, data_paths=["/vo/campaigns/c1", "/other/x"]
    )
    hints = campaign_token_scopes(campaign=campaign)
    assert hints[0].scopes == ("storage.read:/campaigns/c1",)
    assert hints[1].scopes == () and "outside" in hints[1].problem
    html = render_to_string("tokens/campaign_scopes.html", {"hints": hints, "campaign": campaign})
    assert "storage.read:/campaigns/c1" in html


def test_error_reports_never_show_the_token(issuer, settings, monkeypatch):
    import sys

    from django.test import RequestFactory
    from django.views.debug import SafeExceptionReporterFilter

    from tokens import inspect as token_inspection
    from tokens.inspection import validate

    def fail(*args, **kwargs):
        raise RuntimeError("injected")

    # Fault injection: nothing in the inspector fails on its own, so force a crash deep inside.
    monkeypatch.setattr(validate.profiles, "check_rfc9068", fail)
    settings.DEBUG = False
    raw = issuer.sign(issuer.claims())
    with pytest.raises(RuntimeError) as crash:
        token_inspection.inspect(raw)
    reporter, request = SafeExceptionReporterFilter(), RequestFactory().get("/")
    frames, tb = 0, crash.value.__traceback__.tb_next  # skip this test's own frame
    while tb is not None:
        for _name, value in reporter.get_traceback_frame_variables(request, tb.tb_frame):
            assert raw[:40] not in repr(value)
        frames, tb = frames + 1, tb.tb_next
    assert frames >= 3
    assert sys.exc_info()[0] is None


def test_delete_audits_the_client_behind_a_trusted_proxy(issuer, member, settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = ["10.0.0.2"]
    token = hold_token(issuer, member)
    client_for(member).post(
        reverse("tokens:delete", args=[token.pk]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert AuditEvent.objects.get(action="token.delete").ip == "198.51.100.7"
