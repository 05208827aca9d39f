"""The access rule (path_access) and the "current membership" querysets the exports use."""

import pytest

from accounts.models import Account
from accounts.storage_paths import PathRejected, path_covers
from campaigns import services
from campaigns.models import Campaign, Membership
from campaigns.selectors import (
    AccessReason,
    campaign_for_page,
    current_member_count,
    current_members,
    current_memberships,
    path_access,
)
from tests.integration.campaigns.conftest import days, open_membership, today

pytestmark = pytest.mark.django_db


def names(accounts) -> list[str]:
    return [a.name for a in accounts]


def test_current_members_are_approved_active_and_not_past_their_end(
    pi, manager, member, requester, campaign
):
    assert names(current_members(campaign)) == ["manager", "member", "pi"]
    Membership.objects.filter(account=member).update(valid_until=today())
    assert "member" in names(current_members(campaign))  # the last day still counts
    Membership.objects.filter(account=member).update(valid_until=days(-1))
    assert "member" not in names(current_members(campaign))
    Account.objects.filter(pk=manager.pk).update(status=Account.Status.SUSPENDED)
    assert names(current_members(campaign)) == ["pi"]
    assert names(current_members(campaign, today=days(-2))) == ["member", "pi"]
    assert set(current_memberships().values_list("account__name", flat=True)) == {"pi"}


def test_the_member_count_follows_the_same_rule(admin, pi, manager, member, outsider, campaign):
    def count(**kwargs) -> int:
        one = campaign_for_page("nightsky", member_count=True, **kwargs).member_count
        counted = Campaign.objects.annotate(
            n=current_member_count(today=kwargs.get("today") or today())
        )
        assert counted.get(slug="nightsky").n == one  # the list's way of counting agrees
        return one

    assert count() == current_members(campaign).count() == 3
    Membership.objects.filter(account=member).update(valid_until=today())
    assert count() == 3  # the last day still counts
    Membership.objects.filter(account=member).update(valid_until=days(-1))
    Account.objects.filter(pk=manager.pk).update(status=Account.Status.SUSPENDED)
    assert count() == current_members(campaign).count() == 1
    assert count(today=days(-2)) == current_members(campaign, today=days(-2)).count() == 2
    Account.objects.filter(pk=manager.pk).update(status=Account.Status.DELETED)
    services.membership_add(campaign=campaign, account_name="outsider", actor=admin)
    assert count() == current_members(campaign).count() == 2
    services.campaign_archive(campaign=campaign, actor=admin)
    assert count() == current_members(campaign).count() == 0  # an archived campaign grants nothing
    assert campaign_for_page("no-such-campaign") is None


def test_member_reads_under_embargo(member, campaign):
    decision = path_access(path="/data/nightsky/raw/0001.fits", account=member)
    assert decision.allowed and decision.reason == AccessReason.MEMBER
    assert decision.campaign == campaign and decision.matched_prefix == "/data/nightsky"
    assert "member is a member of campaign nightsky" in decision.explanation


@pytest.mark.parametrize("who", ["outsider", "requester"])
def test_non_members_are_denied_under_embargo(who, request, campaign):
    account = request.getfixturevalue(who)
    decision = path_access(path="/tape/nightsky/x", account=account)
    assert not decision.allowed and decision.reason == AccessReason.NOT_MEMBER
    assert f"{who} is not a current member of nightsky" in decision.explanation
    assert "request to join" in decision.explanation


def test_anonymous_is_told_only_members_may_read(campaign):
    decision = path_access(path="/data/nightsky")
    assert not decision.allowed and decision.reason == AccessReason.NOT_MEMBER
    assert "Only current members of nightsky may read it" in decision.explanation


def test_public_after_the_embargo(pi, outsider, campaign):
    services.campaign_update_embargo(campaign=campaign, embargo_until=today(), actor=pi)
    decision = path_access(path="/data/nightsky/a", account=outsider)
    assert decision.allowed and decision.reason == AccessReason.PUBLIC
    assert f"its embargo ended on {today():%Y-%m-%d}" in decision.explanation
    # The day before, it was still under embargo.
    assert not path_access(path="/data/nightsky/a", account=outsider, today=days(-1)).allowed


def test_no_embargo_is_public(pi, outsider, campaign):
    services.campaign_update_embargo(campaign=campaign, embargo_until=None, actor=pi)
    decision = path_access(path="/data/nightsky/a")
    assert decision.allowed and "it has no embargo" in decision.explanation


def test_suspended_account_reads_nothing_even_public_data(pi, member, campaign):
    services.campaign_update_embargo(campaign=campaign, embargo_until=None, actor=pi)
    Account.objects.filter(pk=member.pk).update(status=Account.Status.SUSPENDED)
    member.refresh_from_db()
    decision = path_access(path="/data/nightsky/a", account=member)
    assert not decision.allowed and decision.reason == AccessReason.SUSPENDED
    assert "suspended" in decision.explanation


def test_expired_and_ended_memberships_are_denied(member, campaign):
    Membership.objects.filter(account=member).update(valid_until=days(-1))
    assert path_access(path="/data/nightsky", account=member).reason == AccessReason.NOT_MEMBER
    Membership.objects.filter(account=member).update(valid_until=None, state="revoked")
    assert not path_access(path="/data/nightsky", account=member).allowed


def test_no_campaign_covers_the_path(member, campaign):
    decision = path_access(path="/data/other/file", account=member)
    assert not decision.allowed and decision.reason == AccessReason.NO_CAMPAIGN
    assert decision.campaign is None


def test_matching_is_by_whole_segments(member, campaign):
    assert path_access(path="/data/nightskyX/f").reason == AccessReason.NO_CAMPAIGN
    assert path_access(path="/data/nightsky/", account=member).allowed
    assert path_covers("/data/nightsky", "/data/nightsky/a/b")
    assert not path_covers("/data/nightsky", "/data/nightsky2")
    assert path_covers("/", "/anything")


def test_the_most_specific_campaign_decides(admin, pi, member, outsider, campaign):
    inner = services.campaign_create(
        slug="inner",
        title="Inner",
        pi=outsider,
        actor=admin,
        embargo_until=days(10),
        data_paths=["/elsewhere"],
    )
    # Nested paths are refused now; rows from before the rule may still nest.
    Campaign.objects.filter(pk=inner.pk).update(data_paths=["/data/nightsky/special"])
    decision = path_access(path="/data/nightsky/special/f", account=member)
    assert not decision.allowed and decision.campaign == inner
    assert set(decision.campaigns) == {campaign, inner}
    assert path_access(path="/data/nightsky/special/f", account=outsider).allowed
    assert path_access(path="/data/nightsky/other", account=member).allowed


def test_two_campaigns_on_one_prefix_the_stricter_decides(admin, outsider, member, campaign):
    twin = services.campaign_create(slug="twin", title="Twin", pi=outsider, actor=admin)
    # Refused now (issue 11); rows from before the rule may still share a prefix.
    Campaign.objects.filter(pk=twin.pk).update(data_paths=["/data/nightsky"])
    assert path_access(path="/data/nightsky/x", account=member).allowed
    assert not path_access(path="/data/nightsky/x", account=outsider).allowed


@pytest.mark.parametrize("bad", ["relative/path", "/a/../b", "/a//b", "/a/./b", "", "/a\\b"])
def test_unclean_paths_are_refused(bad, campaign):
    with pytest.raises(PathRejected):
        path_access(path=bad)


def test_archived_campaign_grants_its_members_nothing_as_the_exports_drop_its_group(
    admin, member, outsider, campaign
):
    assert path_access(path="/data/nightsky", account=member).allowed
    services.campaign_archive(campaign=campaign, actor=admin)
    assert not path_access(path="/data/nightsky", account=member).allowed
    assert not path_access(path="/data/nightsky", account=outsider).allowed
    assert member not in current_members(campaign)


def test_requested_membership_is_not_access(requester, campaign):
    assert open_membership(campaign, requester).state == "requested"
    assert requester not in current_members(campaign)


def test_sqlite_style_scan_gives_the_same_answer(monkeypatch, member, outsider, campaign):
    # `make run` uses SQLite, which has no JSON containment: the selector scans instead.
    from django.db import connection

    monkeypatch.setattr(connection.features, "supports_json_field_contains", False)
    assert path_access(path="/data/nightsky/x", account=member).allowed
    assert not path_access(path="/data/nightsky/x", account=outsider).allowed
    assert path_access(path="/data/nightskyX").reason == AccessReason.NO_CAMPAIGN
