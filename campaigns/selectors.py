"""Reads for campaigns and memberships, and the access rule the storage exports encode.

The rule: data under a campaign's path prefixes is readable by everybody once the embargo has
ended (or when there is none); while under embargo only by *current members*: an approved
membership whose valid_until is empty or not yet past, held by an ACTIVE account.
"""

import datetime
import enum
import functools
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, IdpGroupMembership
from accounts.prepared import PreparedQuery, Read, instance_from_row, read_together
from accounts.storage_paths import (
    path_covers,
    path_depth,
    path_is_string_prefix,
    path_normalise,
    path_prefixes,
)
from campaigns.models import Campaign, CampaignRequest, Membership

LIST_PAGE_SIZE = 25
MEMBER_PAGE_SIZE = 25
REQUESTS_SHOWN = 25
MAX_PAGE_NUMBER = 1_000_000


def _today(today: datetime.date | None) -> datetime.date:
    return today or timezone.localdate()


def _current_q(today: datetime.date, prefix: str = "") -> Q:
    """Membership conditions for "current", optionally through a relation prefix.

    An archived campaign grants nothing: its group leaves the exports, so the rule says so too.
    """
    return Q(
        **{
            f"{prefix}state": Membership.State.APPROVED,
            f"{prefix}account__status": Account.Status.ACTIVE,
            f"{prefix}campaign__status": Campaign.Status.ACTIVE,
        }
    ) & (Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gte": today}))


def current_memberships(*, today: datetime.date | None = None) -> QuerySet[Membership]:
    """Memberships that grant access today: approved, not past valid_until, account ACTIVE,
    campaign active."""
    return Membership.objects.filter(_current_q(_today(today)))


def current_member_count(*, today: datetime.date, one_campaign: bool = False) -> Case:
    """The current member count of each campaign in a Campaign queryset, to annotate it with.

    The same rule as current_memberships(), written for counting: the campaign's own status is
    read from the row being annotated (an archived one counts no one), and the account check
    looks only at the few accounts that are not ACTIVE (a partial index in Account.Meta holds
    exactly those), so a count reads the membership index and that small one instead of every
    member's account. How it looks depends on how many campaigns are counted:
    - many (the list): NOT IN that set, which PostgreSQL hashes once for all the campaigns;
    - `one_campaign` (a campaign's page): NOT EXISTS per member, because hashing every inactive
      account for a single count cost 5x the count itself.
    """
    if one_campaign:
        inactive = Exists(
            Account.objects.filter(pk=OuterRef("account_id")).exclude(status=Account.Status.ACTIVE)
        )
    else:
        inactive = Q(account__in=Account.objects.exclude(status=Account.Status.ACTIVE).values("pk"))
    counted = (
        Membership.objects.filter(campaign=OuterRef("pk"), state=Membership.State.APPROVED)
        # "not ended" rather than "no end or ends later": PostgreSQL then filters inside an
        # index-only scan instead of OR-ing two bitmap scans that read the table.
        .exclude(valid_until__lt=today)
        .exclude(inactive)
        .order_by()
        .values("campaign")
        .annotate(n=Count("*"))  # not the id: it is not in the index
        .values("n")
    )
    return Case(
        When(
            status=Campaign.Status.ACTIVE,
            then=Coalesce(Subquery(counted, output_field=IntegerField()), 0),
        ),
        default=Value(0),
    )


# The campaign pages read the same few rows on every request: these reads are compiled once per
# process (accounts/prepared.py), the rule staying in the ORM expressions they are built from.
_CAMPAIGN_FIELDS = [f.attname for f in Campaign._meta.concrete_fields]
_PERSON_FIELDS = ["id", "name", "display_name", "email", "status", "uid"]


def _with_pi(row: dict) -> Campaign:
    campaign = instance_from_row(Campaign, row)
    campaign.pi = instance_from_row(Account, row, "pi__")
    return campaign


_MEMBERSHIP_FIELDS = [f.attname for f in Membership._meta.concrete_fields]


def _campaign_page_query(*, counted: bool, with_viewer: bool) -> PreparedQuery:
    """The read of campaign_page(): the campaign and its PI, with the current member count if
    `counted`, and the viewer's open membership if `with_viewer` (a LEFT JOIN: at most one row,
    by the "one open membership" rule)."""

    def build(slug, today=None, account=None) -> QuerySet:
        campaigns = Campaign.objects.filter(slug=slug)
        fields = [*_CAMPAIGN_FIELDS, *(f"pi__{f}" for f in _PERSON_FIELDS)]
        if counted:
            campaigns = campaigns.annotate(
                member_count=current_member_count(today=today, one_campaign=True)
            )
            fields.append("member_count")
        if with_viewer:
            campaigns = campaigns.annotate(
                viewer=FilteredRelation(
                    "memberships",
                    condition=Q(
                        memberships__account=account,
                        memberships__state__in=Membership.OPEN_STATES,
                    ),
                )
            )
            fields += [f"viewer__{f}" for f in _MEMBERSHIP_FIELDS]
        return campaigns.values(*fields)

    parameters = {"slug": str}
    if counted:
        parameters["today"] = datetime.date
    if with_viewer:
        parameters["account"] = int
    return PreparedQuery(build, generic_plan=True, **parameters)


_CAMPAIGN_PAGE = {
    (counted, with_viewer): _campaign_page_query(counted=counted, with_viewer=with_viewer)
    for counted in (False, True)
    for with_viewer in (False, True)
}


def campaign_page(
    slug: str,
    *,
    account: Account | None = None,
    member_count: bool = False,
    today: datetime.date | None = None,
) -> tuple[Campaign | None, "Viewer"]:
    """The campaign with its PI, and how `account` stands towards it (viewer_for), in one query;
    with `member_count`, its current member count too (counting costs PostgreSQL more than the
    rest of the read: only the pages that show it ask for it). (None, an anonymous Viewer) when
    there is no such campaign."""
    today = _today(today)
    (rows,) = read_together(_campaign_page_read(slug, account, member_count, today))
    return _campaign_page_of(rows, account, member_count, today)


def _campaign_page_read(
    slug: str, account: Account | None, member_count: bool, today: datetime.date
) -> Read:
    values: dict = {"slug": slug}
    if member_count:
        values["today"] = today
    if with_viewer := _signed_in(account):
        values["account"] = account.pk
    return _CAMPAIGN_PAGE[member_count, with_viewer].read(**values)


def _campaign_page_of(
    rows: list[dict], account: Account | None, member_count: bool, today: datetime.date
) -> tuple[Campaign | None, "Viewer"]:
    """campaign_page()'s campaign and Viewer from its read's rows."""
    with_viewer = _signed_in(account)
    if not rows:
        return None, Viewer(account=None, membership=None)
    row = rows[0]
    campaign = _with_pi(row)
    if member_count:
        campaign.member_count = row["member_count"]
    if not with_viewer:
        return campaign, Viewer(account=None, membership=None)
    membership = None
    if row["viewer__id"] is not None:
        membership = instance_from_row(Membership, row, "viewer__")
        membership.campaign = campaign
    return campaign, _viewer(campaign, account, membership, today)


def campaign_for_page(
    slug: str, *, member_count: bool = False, today: datetime.date | None = None
) -> Campaign | None:
    """campaign_page() without a viewer."""
    return campaign_page(slug, member_count=member_count, today=today)[0]


def current_members(campaign: Campaign, *, today: datetime.date | None = None) -> QuerySet[Account]:
    """The accounts that may read `campaign`'s embargoed data today, by name."""
    return Account.objects.filter(
        Exists(current_memberships(today=today).filter(campaign=campaign, account=OuterRef("pk")))
    ).order_by("name")


def memberships_for_account(*, account: Account) -> QuerySet[Membership]:
    """The account's open memberships (requested or approved), with their campaigns."""
    return (
        Membership.objects.filter(account=account, state__in=Membership.OPEN_STATES)
        .select_related("campaign", "campaign__pi")
        .order_by("campaign__slug")
    )


# --- who may do what in a campaign -------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """How one account stands towards one campaign (anonymous viewers have no account)."""

    account: Account | None
    membership: Membership | None  # the open one (requested or approved), if any
    is_pi: bool = False
    is_manager: bool = False  # appointed manager with a current membership
    is_admin: bool = False

    @property
    def is_member(self) -> bool:
        return self.membership is not None and self.membership.state == Membership.State.APPROVED

    @property
    def has_requested(self) -> bool:
        return self.membership is not None and self.membership.state == Membership.State.REQUESTED

    @property
    def may_manage(self) -> bool:
        """Decide requests, add and remove members, set end dates."""
        return self.is_pi or self.is_manager or self.is_admin

    @property
    def may_appoint_managers(self) -> bool:
        return self.is_pi

    @property
    def may_edit_settings(self) -> bool:
        """Embargo date and data paths."""
        return self.is_pi or self.is_admin

    @property
    def may_see_members(self) -> bool:
        return self.is_member or self.may_manage

    # What the manage page offers on one member's row; the services check the same again.

    def may_appoint(self, membership: Membership) -> bool:
        return self.may_appoint_managers and membership.role == Membership.Role.MEMBER

    def may_unappoint(self, membership: Membership) -> bool:
        return self.may_appoint_managers and membership.role == Membership.Role.MANAGER

    def may_remove(self, membership: Membership) -> bool:
        """Members by any manager; a manager only by the PI or an admin; the PI never."""
        if membership.role == Membership.Role.MANAGER:
            return self.is_pi or self.is_admin
        return self.may_manage and membership.role == Membership.Role.MEMBER

    def may_set_end_date(self, membership: Membership) -> bool:
        """Not the PI's (it cannot end); a manager's only by the PI or an admin; one's own only
        by an admin (as membership_set_valid_until decides)."""
        if membership.role == Membership.Role.PI or not self.may_manage:
            return False
        if self.is_admin:
            return True
        own = self.account is not None and membership.account_id == self.account.pk
        return not own and (membership.role != Membership.Role.MANAGER or self.is_pi)


_OPEN_MEMBERSHIP = PreparedQuery(
    lambda campaign, account: Membership.objects.filter(
        campaign=campaign, account=account, state__in=Membership.OPEN_STATES
    ).order_by(),
    generic_plan=True,
    campaign=int,
    account=int,
)


def _signed_in(account: Account | None) -> bool:
    return account is not None and account.is_authenticated and account.is_active


def viewer_for(
    *, campaign: Campaign, account: Account | None, today: datetime.date | None = None
) -> Viewer:
    """One query: the account's open membership in the campaign, and its rights there."""
    if not _signed_in(account):
        return Viewer(account=None, membership=None)
    found = _OPEN_MEMBERSHIP(campaign=campaign.pk, account=account.pk)
    membership = found[0] if found else None  # at most one: the "one open membership" rule
    if membership is not None:
        membership.campaign = campaign
    return _viewer(campaign, account, membership, _today(today))


def _viewer(
    campaign: Campaign, account: Account, membership: Membership | None, today: datetime.date
) -> Viewer:
    """The rights of a signed-in `account` with its open `membership` (or None) in `campaign`."""
    is_current = (
        membership is not None
        and membership.state == Membership.State.APPROVED
        and (membership.valid_until is None or membership.valid_until >= today)
    )
    return Viewer(
        account=account,
        membership=membership,
        is_pi=campaign.pi_id == account.pk,
        is_manager=is_current and membership.role == Membership.Role.MANAGER,
        is_admin=account.is_admin,
    )


def managers_of(
    campaign: Campaign | Subquery, *, today: datetime.date | None = None
) -> QuerySet[Account]:
    """Appointed managers with a current membership (the PI is not included)."""
    return Account.objects.filter(
        Exists(
            current_memberships(today=today).filter(
                campaign=campaign, account=OuterRef("pk"), role=Membership.Role.MANAGER
            )
        )
    ).order_by("name")


def _campaign_of(slug) -> Subquery:
    """The id of the campaign `slug` names, inside a read: the people reads below are keyed by
    slug, so that a page can send them with its campaign's own read (campaign_page)."""
    return Subquery(Campaign.objects.filter(slug=slug).order_by().values("pk")[:1])


_MANAGERS = PreparedQuery(
    lambda slug, today: managers_of(_campaign_of(slug), today=today).values(*_PERSON_FIELDS),
    generic_plan=True,
    slug=str,
    today=datetime.date,
)


def manager_accounts(campaign: Campaign, *, today: datetime.date | None = None) -> list[Account]:
    """managers_of(), as the campaign page lists them."""
    return _accounts(_MANAGERS(slug=campaign.slug, today=_today(today)))


def _accounts(rows: list[dict]) -> list[Account]:
    return [instance_from_row(Account, row) for row in rows]


def campaigns_managed_by(*, account: Account) -> QuerySet[Campaign]:
    """Campaigns where the account is PI or a current manager."""
    managed = current_memberships().filter(
        campaign=OuterRef("pk"), account=account, role=Membership.Role.MANAGER
    )
    return Campaign.objects.filter(Q(pi=account) | Exists(managed))


# --- pages ------------------------------------------------------------------------------------


class ListFilter(enum.StrEnum):
    ALL = ""
    MINE = "mine"
    EMBARGO = "embargo"
    PUBLIC = "public"


def _campaign_list_filtered(
    *, viewer: int | None, search: str, show: str, today: datetime.date
) -> QuerySet[Campaign]:
    """The campaigns the list shows for this search and filter; `viewer` is an account id, None
    when nobody is logged in."""
    campaigns = Campaign.objects.all()
    if search:
        # PI names through a subquery, not a join: the trigram index (Account.Meta.indexes) finds
        # the few matching accounts instead of the join reading every account.
        pis = Account.objects.filter(name__icontains=search).values("pk")
        campaigns = campaigns.filter(
            Q(slug__icontains=search)
            | Q(title__icontains=search)
            | Q(description__icontains=search)
            | Q(pi__in=pis)
        )
    if show == ListFilter.EMBARGO:
        campaigns = campaigns.filter(embargo_until__gt=today)
    elif show == ListFilter.PUBLIC:
        campaigns = campaigns.filter(Q(embargo_until__isnull=True) | Q(embargo_until__lte=today))
    if show == ListFilter.MINE:
        if viewer is None:
            return campaigns.none()
        mine = Membership.objects.filter(account=viewer, state__in=Membership.OPEN_STATES)
        campaigns = campaigns.filter(Q(pi=viewer) | Q(pk__in=mine.values("campaign")))
    return campaigns


def _campaign_list_queryset(
    *, viewer: int | None, search: str, show: str, today: datetime.date
) -> QuerySet[Campaign]:
    """The list's campaigns in order, with current member count and the viewer's own state."""
    campaigns = _campaign_list_filtered(viewer=viewer, search=search, show=show, today=today)
    campaigns = campaigns.annotate(member_count=current_member_count(today=today))
    if viewer is not None:
        own = Membership.objects.filter(
            campaign=OuterRef("pk"), account=viewer, state__in=Membership.OPEN_STATES
        ).order_by()
        campaigns = campaigns.annotate(viewer_state=Subquery(own.values("state")[:1]))
    else:
        campaigns = campaigns.annotate(viewer_state=Value(None, output_field=CharField()))
    return campaigns.order_by("slug")


_LIST_FIELDS = ["id", "slug", "title", "status", "embargo_until", "pi_id"]
_LIST_PI_FIELDS = ["pi__id", "pi__name", "pi__display_name"]
_LIST_QUERIES: dict[tuple[str, bool, str], PreparedQuery] = {}


def _list_query(show: str, logged_in: bool, part: str) -> PreparedQuery:
    """The list without a search, prepared per filter: its "count" (of the filtered campaigns)
    or its "page" (the member counts and the viewer's state are correlated subqueries evaluated
    for the page's rows only: a window count on the page query would evaluate them for every
    campaign)."""
    key = (show, logged_in, part)
    if (query := _LIST_QUERIES.get(key)) is not None:
        return query

    def build(today=None, viewer=None):
        if part == "count":
            filtered = _campaign_list_filtered(viewer=viewer, search="", show=show, today=today)
            return filtered.order_by().values("pk")
        return _campaign_list_queryset(viewer=viewer, search="", show=show, today=today).values(
            *_LIST_FIELDS, *_LIST_PI_FIELDS, "member_count", "viewer_state"
        )

    query = _LIST_QUERIES[key] = PreparedQuery(
        build, generic_plan=True, **_list_parameters(show, logged_in, part)
    )
    return query


def _list_parameters(show: str, logged_in: bool, part: str) -> dict[str, type]:
    """What the list's prepared queries are asked with: the count only with what its filter
    reads."""
    parameters = {"today": datetime.date, "viewer": int}
    if not logged_in:
        del parameters["viewer"]
    if part == "count":
        if show not in (ListFilter.EMBARGO, ListFilter.PUBLIC):
            del parameters["today"]
        if show != ListFilter.MINE:
            parameters.pop("viewer", None)
    return parameters


def _list_row(row: dict) -> Campaign:
    campaign = _with_pi(row)
    campaign.member_count, campaign.viewer_state = row["member_count"], row["viewer_state"]
    return campaign


def campaign_list(
    *,
    viewer: Account | None,
    search: str = "",
    show: str = "",
    page: int | str = 1,
    today: datetime.date | None = None,
) -> Page:
    """One page of campaigns with PI, current member count and the viewer's own state.

    Two queries whatever the data size, the count and the page; prepared (accounts/prepared.py)
    and asked in one round trip unless searching. Member counts and the viewer's state are
    correlated subqueries evaluated for the page's rows only.
    """
    today = _today(today)
    viewer_id = viewer.pk if viewer is not None and viewer.is_authenticated else None
    nobody_mine = show == ListFilter.MINE and viewer_id is None  # an empty page, no query
    if not search and show in set(ListFilter) and not nobody_mine:
        logged_in = viewer_id is not None
        values = {"today": today, "viewer": viewer_id}

        def asked(part: str) -> dict:
            return {name: values[name] for name in _list_parameters(show, logged_in, part)}

        paginator = Paginator([], LIST_PAGE_SIZE)
        rows_of = _list_query(show, logged_in, "page")
        number = _page_number(page)
        paginator.count, rows = read_together(  # one round trip
            _list_query(show, logged_in, "count").counted(**asked("count")),
            rows_of.read(**_page_read(number, LIST_PAGE_SIZE), **asked("page")),
        )
        if number > paginator.num_pages:  # past the end: the last page
            number = paginator.num_pages
            rows = rows_of(**_page_read(number, LIST_PAGE_SIZE), **asked("page"))
        return Page([_list_row(row) for row in rows], number, paginator)
    campaigns = (
        _campaign_list_queryset(viewer=viewer_id, search=search, show=show, today=today)
        .select_related("pi")
        .only("slug", "title", "status", "embargo_until", "pi__name", "pi__display_name")
    )
    return Paginator(campaigns, LIST_PAGE_SIZE).get_page(page)


def _campaign_members_queryset(
    campaign: Campaign | int | Subquery, *, states: tuple[str, ...], search: str
) -> QuerySet[Membership]:
    """The campaign's memberships in `states`: PI first, then managers, then by account name."""
    role_order = Case(
        When(role=Membership.Role.PI, then=0),
        When(role=Membership.Role.MANAGER, then=1),
        default=2,
    )
    memberships = Membership.objects.filter(campaign=campaign, state__in=states).order_by(
        role_order, "account__name"
    )
    if search:
        memberships = memberships.filter(
            Q(account__name__icontains=search) | Q(account__display_name__icontains=search)
        )
    return memberships


_MEMBER_FIELDS = ["id", "role", "state", "valid_until", "decided_at", "campaign_id", "account_id"]
_MEMBER_ACCOUNT_FIELDS = [
    "account__id",
    "account__name",
    "account__display_name",
    "account__status",
]
_MEMBERS_PAGE = PreparedQuery(
    lambda slug: (
        _campaign_members_queryset(
            _campaign_of(slug), states=(Membership.State.APPROVED,), search=""
        )
        .annotate(page_total=Window(Count("*")))
        .values(*_MEMBER_FIELDS, *_MEMBER_ACCOUNT_FIELDS, "page_total")
    ),
    generic_plan=True,
    slug=str,
)


def _membership_row(row: dict) -> Membership:
    membership = instance_from_row(Membership, row)
    membership.account = instance_from_row(Account, row, "account__")
    return membership


def campaign_members(
    campaign: Campaign,
    *,
    states: tuple[str, ...] = (Membership.State.APPROVED,),
    search: str = "",
    page: int | str = 1,
) -> Page:
    """One page of the campaign's memberships: PI first, then managers, then by account name.

    `search` matches the account name or display name. One query.
    """
    if not search and states == (Membership.State.APPROVED,):
        return _prepared_page(
            _MEMBERS_PAGE, page, MEMBER_PAGE_SIZE, _membership_row, slug=campaign.slug
        )
    memberships = (
        _campaign_members_queryset(campaign, states=states, search=search)
        .select_related("account")
        .only(*_MEMBER_FIELDS[1:-1], *_MEMBER_ACCOUNT_FIELDS[1:])
    )
    return _page_with_total(memberships, page, MEMBER_PAGE_SIZE)


def _page_number(number: int | str) -> int:
    try:
        number = max(1, int(number))
    except (TypeError, ValueError):
        number = 1
    # An offset past PostgreSQL's bigint is an error, not an empty page: beyond this any page
    # is past the end, which falls back to the last page.
    return min(number, MAX_PAGE_NUMBER)


def _page_with_total(queryset: QuerySet, number: int | str, per_page: int) -> Page:
    """Paginator.get_page in one query instead of two: the total comes with the rows
    (COUNT(*) OVER ()). Only for queries that read every matching row anyway, to sort them."""
    paginator = Paginator(queryset, per_page)
    number = _page_number(number)
    start = (number - 1) * per_page
    rows = list(queryset.annotate(page_total=Window(Count("*")))[start : start + per_page])
    if not rows and number > 1:
        return paginator.get_page(number)  # past the end: the last page, as Paginator does
    paginator.count = rows[0].page_total if rows else 0
    return Page(rows, number, paginator)


def _prepared_page(
    query: PreparedQuery,
    number: int | str,
    per_page: int,
    row_object,
    *,
    rows: list[dict] | None = None,
    **params,
) -> Page:
    """_page_with_total for a PreparedQuery whose rows carry `page_total`; `row_object` makes
    each row the page shows. `rows`: page `number`'s, when read already (_page_read)."""
    number = _page_number(number)
    if rows is None:
        rows = query(**_page_read(number, per_page), **params)
    if not rows and number > 1:  # past the end: the last page, as Paginator does
        first = query(limit=1, offset=0, **params)
        total = first[0]["page_total"] if first else 0
        number = max(1, -(-total // per_page))
        rows = query(limit=per_page, offset=(number - 1) * per_page, **params)
    paginator = Paginator([], per_page, allow_empty_first_page=True)
    paginator.count = rows[0]["page_total"] if rows else 0
    return Page([row_object(row) for row in rows], number, paginator)


_PENDING_REQUESTS = PreparedQuery(
    lambda slug: (
        Membership.objects.filter(campaign=_campaign_of(slug), state=Membership.State.REQUESTED)
        .annotate(waiting=Window(Count("pk")))
        .order_by("created", "pk")
        .values(
            "id",
            "created",
            "request_message",
            "campaign_id",
            "account_id",
            "account__id",
            "account__name",
            "account__display_name",
            "account__email",
            "waiting",
        )
    ),
    generic_plan=True,
    slug=str,
)


def pending_requests(campaign: Campaign, *, limit: int = REQUESTS_SHOWN) -> list[Membership]:
    """The oldest `limit` requests waiting for a decision; each carries `waiting`, the total."""
    return _requests(_PENDING_REQUESTS(slug=campaign.slug, limit=limit))


def _requests(rows: list[dict]) -> list[Membership]:
    requests = []
    for row in rows:
        membership = _membership_row(row)
        membership.waiting = row["waiting"]
        requests.append(membership)
    return requests


@dataclass(frozen=True)
class CampaignPeople:
    """Who a campaign page lists; None for what it did not ask for."""

    managers: list[Account] | None = None
    requests: list[Membership] | None = None
    members: Page | None = None


def campaign_people(
    campaign: Campaign,
    *,
    managers: bool = False,
    requests: bool = False,
    members: bool = False,
    search: str = "",
    page: int | str = 1,
    today: datetime.date | None = None,
) -> CampaignPeople:
    """What manager_accounts(), pending_requests() and campaign_members() give, for those
    asked, read together: the campaign page's managers and members, the manage page's requests
    and members each cost one round trip to the database instead of two."""
    asked = _PeopleAsked(managers, requests, members, search, page, _today(today))
    reads = _people_reads(campaign.slug, asked)
    rows = dict(zip(reads, read_together(*reads.values()), strict=True))
    return _people_of(rows, campaign, asked)


def campaign_page_with_people(
    slug: str,
    *,
    account: Account | None = None,
    member_count: bool = False,
    managers: bool = False,
    requests: bool = False,
    members: bool = False,
    search: str = "",
    page: int | str = 1,
    today: datetime.date | None = None,
) -> tuple[Campaign | None, "Viewer", CampaignPeople]:
    """campaign_page() and campaign_people() in one round trip to the database.

    The people are read with the campaign, before anyone knows whether the viewer may see them:
    the caller checks the Viewer before it uses them, as it would before asking for them. Ask
    only for what the viewer is likely to be shown: a read not shown is wasted. With a `search`
    the members are not read here (members None): a search is a query of its own, which the
    caller makes (campaign_members) once it has checked the Viewer. No people for a missing
    campaign."""
    today = _today(today)
    asked = _PeopleAsked(managers, requests, members and not search, search, page, today)
    reads = _people_reads(slug, asked)
    campaign_rows, *people_rows = read_together(
        _campaign_page_read(slug, account, member_count, today), *reads.values()
    )
    campaign, viewer = _campaign_page_of(campaign_rows, account, member_count, today)
    if campaign is None:
        return None, viewer, CampaignPeople()
    return campaign, viewer, _people_of(dict(zip(reads, people_rows, strict=True)), campaign, asked)


class _PeopleAsked(NamedTuple):
    managers: bool
    requests: bool
    members: bool
    search: str
    page: int | str
    today: datetime.date


def _people_reads(slug: str, asked: _PeopleAsked) -> dict[str, Read]:
    reads = {}
    if asked.managers:
        reads["managers"] = _MANAGERS.read(slug=slug, today=asked.today)
    if asked.requests:
        reads["requests"] = _PENDING_REQUESTS.read(slug=slug, limit=REQUESTS_SHOWN)
    if asked.members and not asked.search:  # a search reads its own queryset (campaign_members)
        reads["members"] = _MEMBERS_PAGE.read(**_page_read(asked.page, MEMBER_PAGE_SIZE), slug=slug)
    return reads


def _people_of(rows: dict[str, list], campaign: Campaign, asked: _PeopleAsked) -> CampaignPeople:
    """CampaignPeople from the rows of _people_reads()."""
    if "members" in rows:
        member_page = _prepared_page(
            _MEMBERS_PAGE,
            asked.page,
            MEMBER_PAGE_SIZE,
            _membership_row,
            rows=rows["members"],
            slug=campaign.slug,
        )
    elif asked.members:
        member_page = campaign_members(campaign, search=asked.search, page=asked.page)
    else:
        member_page = None
    return CampaignPeople(
        managers=_accounts(rows["managers"]) if asked.managers else None,
        requests=_requests(rows["requests"]) if asked.requests else None,
        members=member_page,
    )


def _page_read(number: int | str, per_page: int) -> dict[str, int]:
    """LIMIT and OFFSET of page `number`, as _prepared_page reads it."""
    return {"limit": per_page, "offset": (_page_number(number) - 1) * per_page}


def memberships_history(*, account: Account, limit: int = 20) -> QuerySet[Membership]:
    """Closed memberships (rejected, withdrawn, revoked, expired), newest first."""
    return (
        Membership.objects.filter(account=account)
        .exclude(state__in=Membership.OPEN_STATES)
        .select_related("campaign", "decided_by")
        .order_by("-updated")[:limit]
    )


def requests_waiting_for(*, account: Account) -> QuerySet[Campaign]:
    """Campaigns the account manages that have requests waiting, with how many."""
    return (
        campaigns_managed_by(account=account)
        .annotate(
            waiting=Count("memberships", filter=Q(memberships__state=Membership.State.REQUESTED))
        )
        .filter(waiting__gt=0)
        .order_by("slug")
    )


def idp_groups_followed(*, idp: str) -> set[str]:
    """SCIM ids of provider `idp`'s groups linked to a campaign (archived ones included)."""
    return set(
        Campaign.objects.filter(idp_group__idp=idp).values_list("idp_group__scim_id", flat=True)
    )


def idp_group_members_wanted(*, campaign: Campaign) -> dict[int, str]:
    """Accounts the campaign's IdP group makes members: ACTIVE members of the group, by id."""
    if campaign.idp_group_id is None:
        return {}
    return dict(
        IdpGroupMembership.objects.filter(
            group_id=campaign.idp_group_id, account__status=Account.Status.ACTIVE
        ).values_list("account_id", "account__name")
    )


def campaign_requests_pending() -> QuerySet[CampaignRequest]:
    """Requests for new campaigns waiting for an admin, oldest first."""
    return (
        CampaignRequest.objects.filter(state=CampaignRequest.State.PENDING)
        .select_related("requester")
        .order_by("created")
    )


def campaign_requests_decided(*, limit: int = 20) -> QuerySet[CampaignRequest]:
    return (
        CampaignRequest.objects.exclude(state=CampaignRequest.State.PENDING)
        .select_related("requester", "decided_by")
        .order_by("-decided_at")[:limit]
    )


def campaign_requests_of(*, account: Account, limit: int = 10) -> QuerySet[CampaignRequest]:
    """The account's own requests for new campaigns, newest first."""
    return CampaignRequest.objects.filter(requester=account).order_by("-created")[:limit]


# --- the access rule --------------------------------------------------------------------------


# The access rule is asked for every storage token: its two lookups are compiled to SQL once
# per process (accounts.compiled), written here as the querysets they are.
_COVERING = PreparedQuery(
    # `?|`: is any of these strings an element of the array? The GIN index on data_paths
    # answers it; a path may be stored with a trailing '/'.
    lambda candidates: Campaign.objects.order_by().filter(data_paths__has_any_keys=candidates),
    candidates=list,
)


def campaigns_covering(path: str) -> list[tuple[Campaign, str]]:
    """Campaigns whose data paths hold `path`, each with its most specific matching prefix, by
    slug."""
    candidates = path_prefixes(path)
    if connection.vendor == "postgresql":
        campaigns = _COVERING(candidates=[*candidates, *(c + "/" for c in candidates)])
    else:  # SQLite (make run): no array lookup, and few campaigns
        campaigns = list(Campaign.objects.order_by())
    found = []
    for campaign in campaigns:
        matches = [p for p in campaign.data_paths if path_covers(p, path)]
        if matches:
            found.append((campaign, max(matches, key=path_depth)))
    found.sort(key=lambda cp: cp[0].slug)
    return found


@functools.cache
def _current_held_query(campaigns: int) -> PreparedQuery:
    """An account's current memberships among `campaigns` campaigns (one query per count)."""
    return PreparedQuery(
        lambda account, today, **ids: (
            current_memberships(today=today)
            .filter(account_id=account, campaign_id__in=list(ids.values()))
            .order_by()
        ),
        account=int,
        today=datetime.date,
        **{f"campaign{i}": int for i in range(campaigns)},
    )


def _current_held(
    account: Account, campaigns: list[Campaign], today: datetime.date
) -> dict[int, Membership]:
    """`account`'s current memberships in `campaigns` (distinct), by campaign id."""
    query = _current_held_query(len(campaigns))
    ids = {f"campaign{i}": campaign.pk for i, campaign in enumerate(campaigns)}
    return {m.campaign_id: m for m in query(account=account.pk, today=today, **ids)}


def data_path_clash(mine: str, theirs: str) -> str:
    """How two campaign data paths collide, as a phrase ("" when they do not).

    Whole segments first (equal, inside, containing), then plain string prefixes, because
    XRootD's SciTokens plugin matches scope paths that way ('/data/c4' also opens '/data/c42').
    Segment and string-prefix matching come from accounts.storage_paths.
    """
    mine, theirs = mine.rstrip("/") or "/", theirs.rstrip("/") or "/"
    if mine == theirs:
        return "is the same path as"
    if path_covers(theirs, mine):
        return "lies inside"
    if path_covers(mine, theirs):
        return "contains"
    if path_is_string_prefix(mine, theirs):
        return "is a string prefix of"
    if path_is_string_prefix(theirs, mine):
        return "starts with"
    return ""


@dataclass(frozen=True)
class DataPathConflict:
    path: str
    campaign: Campaign
    other_path: str
    clash: str

    @property
    def sentence(self) -> str:
        return (
            f"{self.path} {self.clash} {self.other_path}, a data path of campaign "
            f"{self.campaign.slug}: data paths are unique across campaigns. Pick another path, "
            "or ask an admin to move the path between the campaigns."
        )


def data_path_conflicts(
    paths: list[str], *, exclude: Campaign | None = None
) -> list[DataPathConflict]:
    """Every clash of `paths` with another campaign's data paths (archived ones included:
    their paths still decide who can read)."""
    others = Campaign.objects.exclude(data_paths=[]).order_by("slug")
    if exclude is not None and exclude.pk is not None:
        others = others.exclude(pk=exclude.pk)
    found = []
    for other in others:
        for theirs in other.data_paths:
            for mine in paths:
                clash = data_path_clash(mine, theirs)
                if clash:
                    found.append(DataPathConflict(mine, other, theirs, clash))
    return found


def data_path_overlaps() -> list[tuple[DataPathConflict, Campaign]]:
    """Every pair of campaigns whose data paths clash (for the operator's check command)."""
    campaigns = list(Campaign.objects.exclude(data_paths=[]).order_by("slug"))
    found = []
    for i, campaign in enumerate(campaigns):
        for other in campaigns[i + 1 :]:
            for mine in campaign.data_paths:
                for theirs in other.data_paths:
                    clash = data_path_clash(mine, theirs)
                    if clash:
                        found.append((DataPathConflict(mine, other, theirs, clash), campaign))
    return found


class AccessReason(enum.StrEnum):
    PUBLIC = "public"
    MEMBER = "member"
    NOT_MEMBER = "not_member"
    SUSPENDED = "suspended"
    NO_CAMPAIGN = "no_campaign"

    @property
    def label(self) -> str:
        return {
            "public": "public: no embargo, or the embargo has ended",
            "member": "member of the campaign",
            "not_member": "under embargo, not a member",
            "suspended": "account not active",
            "no_campaign": "no campaign covers this path",
        }[self.value]


@dataclass(frozen=True)
class AccessDecision:
    """Allow or deny reading `path`, and why, in a sentence a person can act on."""

    path: str
    allowed: bool
    reason: AccessReason
    explanation: str
    account: Account | None = None
    campaign: Campaign | None = None  # the campaign that decided
    matched_prefix: str = ""
    membership: Membership | None = None  # the viewer's membership that decided, if any
    campaigns: list[Campaign] = field(default_factory=list)  # every campaign covering the path


def path_access(
    *, path: str, account: Account | None = None, today: datetime.date | None = None
) -> AccessDecision:
    """May `account` (or anybody, without one) read `path` on the storage today?

    The campaign owning the longest matching prefix decides (nested campaigns, which only old
    data can hold: the inner one wins); should several share it, every one must allow.
    Raises PathRejected for a path that is not a clean absolute path.
    """
    today = _today(today)
    path = path_normalise(path)  # raises PathRejected
    covering = campaigns_covering(path)
    if account is not None and not account.is_active:
        return AccessDecision(
            path=path,
            allowed=False,
            reason=AccessReason.SUSPENDED,
            explanation=(
                f"Account {account.name} is {account.get_status_display()}, so the storage maps "
                "it to nobody and it can read nothing. An admin can reactivate it."
            ),
            account=account,
            campaigns=[c for c, _ in covering],
        )
    if not covering:
        return AccessDecision(
            path=path,
            allowed=False,
            reason=AccessReason.NO_CAMPAIGN,
            explanation=(
                f"No campaign covers {path}, so the portal grants no access to it; other storage "
                "rules may still apply."
            ),
            account=account,
        )
    deepest = max(path_depth(prefix) for _, prefix in covering)
    deciding = sorted(
        ((c, p) for c, p in covering if path_depth(p) == deepest), key=lambda cp: cp[0].slug
    )
    everyone = [c for c, _ in covering]
    # Data paths are unique, so one campaign decides; two on one prefix can only be old data
    # (`check_data_paths` lists it), and then the stricter one wins: no campaign can open
    # another's embargoed data by claiming its path.
    embargoed = [(c, p) for c, p in deciding if c.is_under_embargo(today)]
    if not embargoed:
        campaign, prefix = deciding[0]
        when = (
            f"its embargo ended on {campaign.embargo_until:%Y-%m-%d}"
            if campaign.embargo_until
            else "it has no embargo"
        )
        return AccessDecision(
            path=path,
            allowed=True,
            reason=AccessReason.PUBLIC,
            explanation=f"{path} belongs to campaign {campaign.slug} and is public: {when}.",
            account=account,
            campaign=campaign,
            matched_prefix=prefix,
            campaigns=everyone,
        )
    deciding = embargoed
    if account is not None:
        held = _current_held(account, [c for c, _ in deciding], today)
        if all(c.pk in held for c, _ in deciding):
            campaign, prefix = deciding[0]
            membership = held[campaign.pk]
            membership.campaign = campaign  # the row read above, not a second join
            until = f" until {membership.valid_until:%Y-%m-%d}" if membership.valid_until else ""
            return AccessDecision(
                path=path,
                allowed=True,
                reason=AccessReason.MEMBER,
                explanation=(
                    f"{account.name} is a member of campaign {membership.campaign.slug}{until}, "
                    f"whose data is under embargo until "
                    f"{membership.campaign.embargo_until:%Y-%m-%d}."
                ),
                account=account,
                campaign=membership.campaign,
                matched_prefix=prefix,
                membership=membership,
                campaigns=everyone,
            )
        deciding = [(c, p) for c, p in deciding if c.pk not in held]
    campaign, prefix = deciding[0]
    who = f"{account.name} is not a current member" if account else "Only current members"
    verb = "" if account else " may read it"
    return AccessDecision(
        path=path,
        allowed=False,
        reason=AccessReason.NOT_MEMBER,
        explanation=(
            f"{path} belongs to campaign {campaign.slug}, under embargo until "
            f"{campaign.embargo_until:%Y-%m-%d}. {who} of {campaign.slug}{verb}; "
            "request to join on the campaign's page."
        ),
        account=account,
        campaign=campaign,
        matched_prefix=prefix,
        campaigns=everyone,
    )
