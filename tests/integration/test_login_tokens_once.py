"""Issue 11 (also): logging in twice kept two token rows that both refreshed, and logout left
them refreshing. Against the real dev IdP: a second login replaces the first's row, and logout
ends the refresh of that session's tokens (also those refreshing made from them)."""

from datetime import timedelta

from django.utils import timezone

from accounts.identities import oidc_identity
from accounts.models import AuditEvent, Identity
from tests.integration.test_login_devidp import ALICE, provider_login
from tokens.models import Token
from tokens.services import tokens_refresh


def link(member, idp) -> None:
    Identity.objects.create(
        account=member,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=idp.issuer, sub=ALICE["sub"]),
    )


def test_logging_in_twice_keeps_one_row(client, idpsecrets, idp_wlcg, member):
    link(member, idp_wlcg)
    provider_login(client, idp_wlcg, ALICE)
    first = Token.objects.get(account=member)
    provider_login(client, idp_wlcg, ALICE)
    second = Token.objects.get(account=member)  # exactly one row
    assert second.pk != first.pk and second.token_hash != first.token_hash
    assert client.session["oidc_token_id"] == second.pk
    assert AuditEvent.objects.filter(action="token.replace", account=member).exists()


def test_logout_ends_the_refresh_of_that_login(client, idpsecrets, idp_wlcg, member):
    link(member, idp_wlcg)
    provider_login(client, idp_wlcg, ALICE)
    token = Token.objects.get(account=member)
    assert token.refresh and token.refresh_token
    # One refresh has happened: the session still names the first row.
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    assert tokens_refresh(within=timedelta(minutes=6)).refreshed == 1
    assert Token.objects.filter(account=member, refresh=True).count() == 1
    client.post("/logout/")
    assert not Token.objects.filter(account=member, refresh=True).exists()
    assert not Token.objects.filter(account=member).exclude(refresh_token="").exists()
    assert tokens_refresh(within=timedelta(days=1)).refreshed == 0
    event = AuditEvent.objects.get(action="token.refresh.stop", account=member)
    assert event.comment == "logout" and event.detail == {"tokens": 1}
