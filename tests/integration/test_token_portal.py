"""The inspector uses what the portal knows: one answer for the path box, the campaigns behind
every granted path, the account behind `sub` (admins only), the real refresh end."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Identity
from accounts.services import identity_add
from campaigns import services as campaign_services
from tests.integration.test_token_views import client_for, hold_token, issuer, trusted_issuer

pytestmark = pytest.mark.django_db
__all__ = ["issuer", "trusted_issuer"]  # the loopback issuer and its settings, reused


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def campaigns(admin, pi, member):
    today = timezone.localdate()
    nightsky = campaign_services.campaign_create(
        slug="nightsky",
        title="Night Sky",
        pi=pi,
        actor=admin,
        embargo_until=today + timedelta(days=200),
        data_paths=["/vo/data/nightsky"],
    )
    calibration = campaign_services.campaign_create(
        slug="calibration", title="Calibration", pi=pi, actor=admin, data_paths=["/vo/data/calib"]
    )
    joined = campaign_services.membership_request(campaign=nightsky, account=member)
    campaign_services.membership_approve(membership=joined, actor=pi)
    return nightsky, calibration


def test_a_token_refused_for_its_audience_is_refused_for_every_path(issuer, client):
    raw = issuer.sign(issuer.claims(aud="https://se.example.org"))
    body = text_of(
        client.post(
            reverse("tokens:inspect"),
            {
                "token": raw,
                "audience": "https://other.example.org",
                "operation": "read",
                "path": "/vo/data/calibration/x",
            },
        )
    )
    assert "This token would be refused" in body
    assert "yes Allowed" not in body
    assert "no Refused before any scope is looked at: the aud check failed" in body
    assert "Decided by the token's own checks" in body


def test_a_valid_token_names_the_scope_that_decided(issuer, client):
    raw = issuer.sign(issuer.claims())
    body = text_of(
        client.post(
            reverse("tokens:inspect"),
            {"token": raw, "operation": "read", "path": "/vo/data/run1"},
        )
    )
    assert "yes Allowed by storage.read:/data" in body and "Decided by its scopes" in body


def test_granted_paths_name_their_campaigns_and_warn_when_wider_than_the_embargo(
    issuer, client, campaigns, outsider, admin
):
    identity_add(
        account=outsider,
        type=Identity.Type.OIDC,
        identity=f"SUB=sub-outsider, ISS={issuer.issuer}",
        actor=None,
    )
    raw = issuer.sign(issuer.claims(sub="sub-outsider", scope="openid storage.read:/data"))
    anonymous = text_of(client.post(reverse("tokens:inspect"), {"token": raw}))
    assert "What the portal knows" in anonymous
    assert "nightsky owns /vo/data/nightsky" in anonymous
    assert "calibration owns /vo/data/calib" in anonymous
    assert "may not read under embargo, not a member" in anonymous
    assert "the provider's scope policy is wider than the embargo" in anonymous
    assert "The subject is the account" not in anonymous  # only admins learn whose it is
    assert "The subject is an account of this portal" in anonymous
    as_admin = text_of(client_for(admin).post(reverse("tokens:inspect"), {"token": raw}))
    assert "The subject is the account outsider" in as_admin
    assert "but outsider is not a member" in as_admin


def test_a_members_token_raises_no_warning(issuer, client, campaigns, member):
    identity_add(
        account=member,
        type=Identity.Type.OIDC,
        identity=f"SUB=sub-member, ISS={issuer.issuer}",
        actor=None,
    )
    raw = issuer.sign(issuer.claims(sub="sub-member", scope="storage.read:/data/nightsky"))
    body = text_of(client.post(reverse("tokens:inspect"), {"token": raw}))
    assert "may read member of the campaign" in body
    assert "wider than the embargo" not in body


def test_claims_and_checks_show_code_not_backticks(issuer, client):
    raw = issuer.sign(issuer.claims(), headers={"typ": "at+jwt"})
    html = client.post(reverse("tokens:inspect"), {"token": raw}).content.decode()
    result = html[html.index('id="verdict"') :]
    assert "`" not in result
    assert '<th scope="row" class="claim-name"><code>wlcg.ver</code></th>' in result
    assert "<code>typ</code>" in result or "<code>alg</code>" in result


def test_refreshable_until_shows_the_real_end(issuer, member):
    token = hold_token(issuer, member, refresh="r-1")
    start = timezone.now() - timedelta(hours=1)
    type(token).objects.filter(pk=token.pk).update(
        refresh_expires_at=None, refresh_start=start, refresh_lifetime=timedelta(hours=96)
    )
    end = timezone.localtime(start + timedelta(hours=96))
    client = client_for(member)
    for url in (reverse("tokens:detail", args=[token.pk]), reverse("tokens:mine")):
        body = client.get(url).content.decode()
        assert "no end given" not in body
        assert f"{end:%Y-%m-%d %H:%M}" in body, url


def test_refresh_end_prefers_the_earlier_of_the_two(issuer, member):
    from tokens.selectors import token_refresh_end

    token = hold_token(issuer, member, refresh="r-1")
    token.refresh_start = timezone.now()
    token.refresh_lifetime = timedelta(days=30)
    assert token_refresh_end(token=token) == token.refresh_expires_at  # 10 days, from hold_token
    token.refresh_token = ""
    assert token_refresh_end(token=token) is None


def test_a_token_for_everything_lists_twenty_campaigns_and_counts_the_rest(issuer, admin, pi):
    for number in range(23):
        campaign_services.campaign_create(
            slug=f"c{number:02d}", title="C", pi=pi, actor=admin, data_paths=[f"/vo/c{number:02d}"]
        )
    campaign_services.campaign_create(
        slug="elsewhere", title="E", pi=pi, actor=admin, data_paths=["/other/x"]
    )
    raw = issuer.sign(issuer.claims(scope="storage.read:/"))
    body = text_of(client_for(admin).post(reverse("tokens:inspect"), {"token": raw}))
    assert "c19 owns /vo/c19" in body and "c20 owns" not in body
    assert "and 3 more campaigns under /vo" in body
    assert "elsewhere" not in body  # outside the issuer's base path /vo
