"""accounts.compiled.CompiledQuery: the rows of its queryset, compiled once, run with new values
(real PostgreSQL: the token endpoint's lookups and the access rule use it)."""

import datetime

import pytest
from django.db.models import QuerySet

from accounts.compiled import CompiledQuery
from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.selectors import account_of_identity
from accounts.services import account_suspend, identity_add
from campaigns import services as campaign_services
from campaigns.models import Campaign, Membership
from campaigns.selectors import campaigns_covering, current_memberships

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.org"


@pytest.fixture
def campaigns(admin, pi, member):
    today = datetime.date.today()
    nightsky = campaign_services.campaign_create(
        slug="nightsky",
        title="Night Sky",
        pi=pi,
        actor=admin,
        data_paths=["/data/nightsky", "/tape/nightsky/"],
        embargo_until=today + datetime.timedelta(days=30),
    )
    campaign_services.campaign_create(
        slug="deepfield", title="Deep Field", pi=pi, actor=admin, data_paths=["/data/deepfield"]
    )
    asked = campaign_services.membership_request(campaign=nightsky, account=member)
    membership = campaign_services.membership_approve(membership=asked, actor=pi)
    Membership.objects.filter(pk=membership.pk).update(valid_until=today + datetime.timedelta(2))
    return nightsky


def _current_of(account_id: int, campaign_id: int, today: datetime.date) -> QuerySet:
    return (
        current_memberships(today=today)
        .filter(account_id=account_id, campaign_id=campaign_id)
        .order_by("pk")
    )


def test_rows_are_the_querysets_rows_for_every_value(campaigns, pi, member, outsider):
    query = CompiledQuery(_current_of, account_id=-7, campaign_id=-8, today=datetime.date(1, 1, 2))
    today = datetime.date.today()
    for account in (pi, member, outsider):
        for day in (today, today + datetime.timedelta(2), today + datetime.timedelta(3)):
            expected = list(_current_of(account.pk, campaigns.pk, day))
            got = query.rows(account_id=account.pk, campaign_id=campaigns.pk, today=day)
            assert got == expected
            # every field as the ORM loads it (dates, enums, timestamps)
            assert [vars(m) | {"_state": None} for m in got] == [
                vars(m) | {"_state": None} for m in expected
            ]
    assert query.rows(account_id=member.pk, campaign_id=campaigns.pk, today=today)
    assert not query.rows(
        account_id=member.pk, campaign_id=campaigns.pk, today=today + datetime.timedelta(3)
    )


def test_json_fields_come_back_as_python_values(campaigns):
    # a path kept with its trailing '/' (older data): found through the '/'-ended candidate
    Campaign.objects.filter(pk=campaigns.pk).update(
        data_paths=["/data/nightsky", "/tape/nightsky/"]
    )
    found = campaigns_covering("/tape/nightsky/run1/f.fits")
    assert [(c.slug, prefix) for c, prefix in found] == [("nightsky", "/tape/nightsky/")]
    assert found[0][0].data_paths == ["/data/nightsky", "/tape/nightsky/"]
    assert campaigns_covering("/data/nightskyX") == []
    assert [c.slug for c, _ in campaigns_covering("/data/deepfield")] == ["deepfield"]


def test_account_of_identity_follows_the_identity_table(member, outsider):
    identity = oidc_identity(sub="alice", issuer=ISSUER)
    assert account_of_identity(type=Identity.Type.OIDC, identity=identity) is None
    identity_add(account=member, type=Identity.Type.OIDC, identity=identity, actor=None)
    assert account_of_identity(type=Identity.Type.OIDC, identity=identity) == member
    assert account_of_identity(type=Identity.Type.X509, identity=identity) is None
    # the account as it is now, not as it was when the query was compiled
    account_suspend(account=member, actor=None, reason="test")
    found = account_of_identity(type=Identity.Type.OIDC, identity=identity)
    assert found.status == Account.Status.SUSPENDED


def test_a_marker_must_be_exactly_one_parameter(db):
    twice = CompiledQuery(
        lambda slug: Campaign.objects.filter(slug=slug) | Campaign.objects.filter(title=slug),
        slug="\x00slug",
    )
    with pytest.raises(ValueError, match="is 2 parameters"):
        twice.rows(slug="x")
    absent = CompiledQuery(lambda slug: Campaign.objects.filter(slug="fixed"), slug="\x00slug")
    with pytest.raises(ValueError, match="is 0 parameters"):
        absent.rows(slug="x")
    wrong_type = CompiledQuery(lambda gid: Campaign.objects.filter(gid=gid), gid="5")
    with pytest.raises(ValueError, match="is 0 parameters"):  # an int column makes it 5
        wrong_type.rows(gid=5)


def test_only_whole_rows_and_every_value_given(db):
    joined = CompiledQuery(
        lambda slug: Campaign.objects.select_related("pi").filter(slug=slug), slug="\x00slug"
    )
    with pytest.raises(ValueError, match="whole model rows"):
        joined.rows(slug="x")
    plain = CompiledQuery(lambda slug: Campaign.objects.filter(slug=slug), slug="\x00slug")
    with pytest.raises(TypeError):
        plain.rows()
    with pytest.raises(TypeError):
        plain.rows(slug="x", title="y")
    assert plain.rows(slug="x") == []
