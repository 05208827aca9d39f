"""The campaign pages' prepared reads (accounts/prepared.py) give what their querysets give.

Each prepared read is built from the ORM queryset that states the rule; these tests run both on
the same data and compare (PreparedQuery itself: tests/integration/test_prepared_query.py).
"""

import pytest

from accounts.models import Account
from campaigns import selectors
from campaigns.models import Campaign, Membership
from tests.integration.campaigns.conftest import days, open_membership, today
from tests.integration.campaigns.test_pages import grow

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]  # SQLite binds dates as text


@pytest.fixture
def busy(admin, pi, campaign, requester, outsider):
    """Thirty more campaigns sharing fifteen members; one ended, one suspended, one archived."""
    grow(admin, pi, n_campaigns=30, n_members=15)
    Membership.objects.filter(account__name="bulkp1", campaign__slug="bulk3").update(
        valid_until=days(-1)
    )
    Account.objects.filter(name="bulkp2").update(status=Account.Status.SUSPENDED)
    Campaign.objects.filter(slug="bulk4").update(status=Campaign.Status.ARCHIVED)
    Campaign.objects.filter(slug__in=["bulk5", "bulk6"]).update(embargo_until=days(30))
    open_membership(campaign, requester)
    return campaign


def _orm_list(viewer, show):
    viewer_id = viewer.pk if viewer is not None else None
    queryset = selectors._campaign_list_queryset(
        viewer=viewer_id, search="", show=show, today=today()
    )
    return [(c.slug, c.member_count, c.viewer_state, c.pi.name) for c in queryset]


@pytest.mark.parametrize("show", list(selectors.ListFilter))
@pytest.mark.parametrize("who", ["member", "pi", "requester", "bulkp1", None])
def test_the_list_pages_are_the_querysets_rows(busy, who, show):
    viewer = Account.objects.get(name=who) if who else None
    if viewer is None and show == selectors.ListFilter.MINE:
        assert selectors.campaign_list(viewer=None, show=show).paginator.count == 0
        return
    expected = _orm_list(viewer, show)
    shown, number = [], 1
    while True:
        page = selectors.campaign_list(viewer=viewer, show=show, page=number)
        assert page.paginator.count == len(expected)
        shown += [(c.slug, c.member_count, c.viewer_state, c.pi.name) for c in page]
        if not page.has_next():
            break
        number += 1
    assert shown == expected
    assert len(expected) > selectors.LIST_PAGE_SIZE or show != selectors.ListFilter.ALL


def test_a_page_past_the_end_is_the_last_page(busy):
    member = Account.objects.get(name="member")
    last = selectors.campaign_list(viewer=member, page=10**18)
    assert last.number == last.paginator.num_pages == 2
    assert [c.slug for c in last] == [c[0] for c in _orm_list(member, "")][25:]


def test_the_campaign_page_reads_what_the_orm_reads(busy):
    for campaign in Campaign.objects.all():
        page = selectors.campaign_for_page(campaign.slug, member_count=True)
        plain = selectors.campaign_for_page(campaign.slug)
        assert not hasattr(plain, "member_count")  # counted only when asked
        orm = (
            Campaign.objects.select_related("pi")
            .annotate(member_count=selectors.current_member_count(today=today()))
            .get(pk=campaign.pk)
        )
        assert page.pi.name == orm.pi.name and page.member_count == orm.member_count
        for field in Campaign._meta.concrete_fields:
            assert getattr(page, field.attname) == getattr(orm, field.attname), field.name
            assert getattr(plain, field.attname) == getattr(orm, field.attname), field.name
        assert plain.pi.name == orm.pi.name
    assert selectors.campaign_for_page("nosuch") is None
    assert selectors.campaign_for_page("nosuch", member_count=True) is None
    assert isinstance(selectors.campaign_for_page("nightsky").data_paths, list)  # JSON decoded


def test_members_requests_managers_and_viewer_match_the_orm(busy, campaign):
    orm = selectors._campaign_members_queryset(
        campaign, states=(Membership.State.APPROVED,), search=""
    ).select_related("account")
    page = selectors.campaign_members(campaign)
    assert page.paginator.count == orm.count() > 0
    assert [(m.pk, m.role, m.account.name) for m in page] == [
        (m.pk, m.role, m.account.name) for m in orm[: selectors.MEMBER_PAGE_SIZE]
    ]
    requests = selectors.pending_requests(campaign)
    assert [(m.account.name, m.waiting) for m in requests] == [("requester", 1)]
    assert [a.name for a in selectors.manager_accounts(campaign)] == [
        a.name for a in selectors.managers_of(campaign)
    ]
    for name in ["pi", "manager", "member", "requester", "outsider"]:
        viewer = selectors.viewer_for(campaign=campaign, account=Account.objects.get(name=name))
        open_one = Membership.objects.filter(
            campaign=campaign, account__name=name, state__in=Membership.OPEN_STATES
        ).first()
        assert (viewer.membership.pk if viewer.membership else None) == (
            open_one.pk if open_one else None
        )


def test_the_people_read_together_are_what_each_selector_reads(busy, campaign):
    """campaign_people (one round trip) gives what manager_accounts, pending_requests and
    campaign_members give, with a search and past the last page too."""
    Membership.objects.filter(campaign=campaign, account__name="member").update(
        role=Membership.Role.MANAGER
    )

    def shown(page):
        return (page.number, page.paginator.count, [(m.pk, m.role, m.account.name) for m in page])

    for search, page in (("", 1), ("", 10**18), ("mem", 1), ("", "x")):
        people = selectors.campaign_people(
            campaign, managers=True, requests=True, members=True, search=search, page=page
        )
        assert [a.name for a in people.managers] == [
            a.name for a in selectors.manager_accounts(campaign)
        ]
        assert [a.name for a in people.managers] == ["manager", "member"]
        assert [(m.pk, m.account.name, m.waiting) for m in people.requests] == [
            (m.pk, m.account.name, m.waiting) for m in selectors.pending_requests(campaign)
        ]
        expected = selectors.campaign_members(campaign, search=search, page=page)
        assert shown(people.members) == shown(expected)
    bulk = Campaign.objects.get(slug="bulk3")
    people = selectors.campaign_people(bulk, members=True, page=2)
    assert people.managers is None and people.requests is None
    assert shown(people.members) == shown(selectors.campaign_members(bulk, page=2))
    assert selectors.campaign_people(campaign) == selectors.CampaignPeople()  # nothing asked


def _people_shown(people: selectors.CampaignPeople) -> tuple:
    members = people.members
    return (
        None if people.managers is None else [a.name for a in people.managers],
        None
        if people.requests is None
        else [(m.pk, m.account.name, m.waiting) for m in people.requests],
        None
        if members is None
        else (
            members.number,
            members.paginator.count,
            [(m.pk, m.role, m.account.name) for m in members],
        ),
    )


def test_the_campaign_page_with_its_people_is_both_reads(busy, campaign, admin, member, outsider):
    """campaign_page_with_people (one round trip) gives what campaign_page and then
    campaign_people give, for every viewer, on a large and a small campaign, past the last page;
    with a search it leaves the members to the caller; a missing campaign has no people."""
    asked = {"managers": True, "requests": True, "members": True}
    for slug in ("nightsky", "bulk3"):
        for account in (admin, member, outsider, None):
            for search, page in (("", 1), ("", 2), ("", 10**18), ("bulkp1", 1)):
                got, viewer, people = selectors.campaign_page_with_people(
                    slug, account=account, member_count=True, search=search, page=page, **asked
                )
                expected, expected_viewer = selectors.campaign_page(
                    slug, account=account, member_count=True
                )
                assert (got.pk, got.member_count) == (expected.pk, expected.member_count)
                assert viewer == expected_viewer
                both = selectors.campaign_people(expected, search=search, page=page, **asked)
                if search:  # the caller searches, once it has checked the viewer
                    assert people.members is None
                    both = selectors.CampaignPeople(both.managers, both.requests, None)
                assert _people_shown(people) == _people_shown(both), (slug, account, page)
    nothing = selectors.campaign_page_with_people("nightsky", account=member)[2]
    assert nothing == selectors.CampaignPeople()
    missing, nobody, none = selectors.campaign_page_with_people("nosuch", account=admin, **asked)
    assert (missing, nobody.may_manage, none) == (None, False, selectors.CampaignPeople())


def test_the_campaign_page_with_its_people_is_one_round_trip(campaign, pi):
    from django.db import connection

    from tests.integration.round_trips import round_trips

    if connection.vendor != "postgresql":  # `make run`'s SQLite: one read after the other
        return

    def page():
        return selectors.campaign_page_with_people(
            "nightsky", account=pi, requests=True, members=True
        )

    page()  # connected, its statements prepared
    assert round_trips(page) == 1
    assert round_trips(lambda: selectors.campaign_people(campaign, members=True)) == 1


def test_who_can_read_a_path_on_either_database(campaign, member, outsider, requester):
    """path_access's prepared reads (campaigns covering the path, current memberships)."""
    path = "/data/nightsky/run1/image.fits"
    assert selectors.path_access(path=path, account=member).allowed
    for account in (outsider, requester):
        decision = selectors.path_access(path=path, account=account)
        assert not decision.allowed and decision.reason == selectors.AccessReason.NOT_MEMBER
    assert [c.slug for c in selectors.path_access(path=path).campaigns] == ["nightsky"]
    assert selectors.path_access(path="/data/nightskyX/a").campaigns == []


def test_the_campaign_page_read_gives_the_viewer_viewer_for_gives(busy, campaign, admin):
    """campaign_page joins the viewer's open membership into the campaign's read: the same
    Viewer as viewer_for's own query, for everyone, on every campaign, counted or not."""
    from django.contrib.auth.models import AnonymousUser

    Membership.objects.filter(campaign=campaign, account__name="manager").update(
        valid_until=days(-1)  # an ended manager is no manager
    )
    people = [*Account.objects.filter(name__in=["pi", "manager", "member", "requester"])]
    people += [admin, Account.objects.get(name="bulkp2"), AnonymousUser(), None]  # suspended
    fields = ("is_pi", "is_manager", "is_admin", "may_manage", "is_member", "has_requested")
    for slug in Campaign.objects.values_list("slug", flat=True):
        for account in people:
            for counted in (False, True):
                page, viewer = selectors.campaign_page(slug, account=account, member_count=counted)
                expected = selectors.viewer_for(campaign=page, account=account)
                assert viewer.account == expected.account
                assert [getattr(viewer, f) for f in fields] == [
                    getattr(expected, f) for f in fields
                ], (slug, account)
                if expected.membership is None:
                    assert viewer.membership is None
                else:
                    for field in Membership._meta.concrete_fields:
                        got = getattr(viewer.membership, field.attname)
                        assert got == getattr(expected.membership, field.attname), field.name
                    assert viewer.membership.campaign is page
                assert hasattr(page, "member_count") == counted
    missing, nobody = selectors.campaign_page("nosuch", account=admin, member_count=True)
    assert missing is None and nobody.account is None and not nobody.may_manage
