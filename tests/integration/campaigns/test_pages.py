"""What the pages show, htmx fragments, and a bounded number of queries whatever the data size."""

import pytest
from django.urls import reverse

from accounts.models import Account
from accounts.services import account_create
from campaigns import services
from campaigns.models import Membership
from tests.integration.campaigns.conftest import days, open_membership

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


# --- htmx fragments ---------------------------------------------------------------------------


def test_approve_with_htmx_returns_the_requests_fragment(as_role, requester, campaign):
    target = open_membership(campaign, requester)
    url = reverse("campaigns:approve", args=["nightsky", target.pk])
    response = as_role("pi").post(url, {"comment": "", "valid_until": days(90)}, **HTMX)
    assert response.status_code == 200 and response["HX-Push-Url"] == "false"
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="requests" hx-target="this">')
    assert "<html" not in html and 'id="settings"' not in html
    assert "requester is now a member of nightsky." in html
    assert "No requests are waiting." in html
    # The member list changes too: it comes along as an out-of-band swap.
    assert '<section class="card" id="members" hx-target="this" hx-swap-oob="true">' in html
    assert f'id="member-{open_membership(campaign, requester).pk}"' in html
    target.refresh_from_db()
    assert (target.state, target.valid_until) == ("approved", days(90))


def test_reject_without_reason_with_htmx_shows_the_error_in_place(as_role, requester, campaign):
    target = open_membership(campaign, requester)
    url = reverse("campaigns:reject", args=["nightsky", target.pk])
    response = as_role("manager").post(url, {"comment": " "}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html and "Give a reason for the rejection" in html
    assert "Please let me in." in html  # the request is still listed
    target.refresh_from_db()
    assert target.state == "requested"


def test_reject_without_javascript_redirects_with_a_message(as_role, requester, campaign):
    target = open_membership(campaign, requester)
    client = as_role("pi")
    url = reverse("campaigns:reject", args=["nightsky", target.pk])
    response = client.post(url, {"comment": "Not this year."})
    assert response.status_code == 302 and response["Location"].endswith("#requests")
    page = client.get(response["Location"])
    assert "You rejected requester&#x27;s request" in page.content.decode()


def test_member_actions_with_htmx_return_the_members_fragment(as_role, member, outsider, campaign):
    client = as_role("pi")
    response = client.post(
        reverse("campaigns:member_add", args=["nightsky"]), {"account_name": "outsider"}, **HTMX
    )
    html = response.content.decode()
    assert '<section class="card" id="members" hx-target="this">' in html
    assert '<section class="card" id="requests" hx-target="this" hx-swap-oob="true">' in html
    assert "outsider is now a member" in html
    target = open_membership(campaign, member)
    response = client.post(
        reverse("campaigns:member_valid_until", args=["nightsky", target.pk]),
        {"valid_until": days(3).isoformat()},
        **HTMX,
    )
    assert f"membership now ends after {days(3):%Y-%m-%d}" in response.content.decode()
    assert "3 days left" in response.content.decode()
    response = client.post(
        reverse("campaigns:member_valid_until", args=["nightsky", target.pk]),
        {"valid_until": days(3).isoformat(), "clear": "1"},
        **HTMX,
    )
    assert "has no end date now" in response.content.decode()
    response = client.post(
        reverse("campaigns:member_add", args=["nightsky"]), {"account_name": "ghost"}, **HTMX
    )
    assert "There is no account named &#x27;ghost&#x27;" in response.content.decode()


def test_list_with_htmx_returns_only_the_results(as_role, campaign):
    response = as_role("outsider").get(reverse("campaigns:list"), {"q": "night"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "nightsky" in html and "<form" not in html
    assert response["Vary"].count("HX-Request") == 1


# --- list: search, filters, rows --------------------------------------------------------------


@pytest.fixture
def public_campaign(admin, outsider):
    return services.campaign_create(
        slug="solar", title="Solar flares", pi=outsider, actor=admin, embargo_until=days(-30)
    )


def rows(response) -> list[str]:
    return [c.slug for c in response.context["page"].object_list]


def test_list_filters_and_search(as_role, campaign, public_campaign):
    client = as_role("requester")
    url = reverse("campaigns:list")
    assert rows(client.get(url)) == ["nightsky", "solar"]
    assert rows(client.get(url, {"show": "embargo"})) == ["nightsky"]
    assert rows(client.get(url, {"show": "public"})) == ["solar"]
    assert rows(client.get(url, {"show": "mine"})) == ["nightsky"]
    assert rows(client.get(url, {"q": "FLARE"})) == ["solar"]
    assert rows(client.get(url, {"q": "outsider"})) == ["solar"]  # by PI name
    assert rows(as_role("anonymous").get(url, {"show": "mine"})) == []


def test_list_rows_show_pi_embargo_members_and_the_viewers_state(
    as_role, campaign, public_campaign
):
    html = as_role("requester").get(reverse("campaigns:list")).content.decode()
    assert "Pi" in html and "(365 days left)" in html
    assert f"since {days(-30):%Y-%m-%d}" in html
    assert 'badge-requested">requested' in html
    page = as_role("member").get(reverse("campaigns:list")).context["page"]
    counts = {c.slug: (c.member_count, c.viewer_state) for c in page.object_list}
    assert counts == {"nightsky": (3, "approved"), "solar": (1, None)}


def test_list_paginates(admin, pi, as_role):
    for i in range(30):
        services.campaign_create(slug=f"c{i:02d}", title=f"C {i}", pi=pi, actor=admin)
    client = as_role("outsider")
    first = client.get(reverse("campaigns:list"), {"q": "c"})
    assert len(rows(first)) == 25 and b"Page 1 of 2" in first.content
    assert b"?q=c&amp;page=2" in first.content
    second = client.get(reverse("campaigns:list"), {"q": "c", "page": 2})
    assert rows(second) == [f"c{i}" for i in range(25, 30)]


# --- the pages' contents ----------------------------------------------------------------------


def test_detail_shows_the_right_action_for_each_viewer(as_role, campaign):
    url = reverse("campaigns:detail", args=["nightsky"])
    assert b"Request to join" in as_role("outsider").get(url).content
    assert b"Withdraw request" in as_role("requester").get(url).content
    assert b"Leave nightsky" in as_role("member").get(url).content
    pi_page = as_role("pi").get(url).content
    assert b"You lead this campaign" in pi_page and b"Leave nightsky" not in pi_page
    anonymous = as_role("anonymous").get(url).content
    assert b"Log in to ask to join" in anonymous
    for text in (b"/data/nightsky", b"/tape/nightsky", b"Manager", b"embargo"):
        assert text in anonymous


def test_detail_has_the_token_scopes_include_point(as_role, campaign):
    response = as_role("outsider").get(reverse("campaigns:detail", args=["nightsky"]))
    assert "tokens/campaign_scopes.html" in [t.name for t in response.templates]


def test_my_campaigns_lists_memberships_requests_and_waiting_decisions(
    as_role, member, campaign, public_campaign
):
    services.membership_set_valid_until(
        membership=open_membership(campaign, member), valid_until=days(12), actor=None
    )
    html = as_role("member").get(reverse("campaigns:mine")).content.decode()
    assert "nightsky" in html and "12 days left" in html
    requester_page = as_role("requester").get(reverse("campaigns:mine")).content.decode()
    assert "Your pending requests" in requester_page and "Withdraw" in requester_page
    manager_page = as_role("manager").get(reverse("campaigns:mine")).content.decode()
    assert "Requests waiting for you" in manager_page and "1 waiting" in manager_page


def test_manage_links_the_list_the_campaign_and_posts_settings_to_their_view(as_role, campaign):
    html = as_role("pi").get(reverse("campaigns:manage", args=["nightsky"])).content.decode()
    detail = reverse("campaigns:detail", args=["nightsky"])
    assert f'<a href="{reverse("campaigns:list")}">Campaigns</a> / <a href="{detail}">' in html
    assert f'<a class="button button-quiet" href="{detail}">Campaign page</a>' in html
    settings_url = reverse("campaigns:settings", args=["nightsky"])
    assert f'<form method="post" action="{settings_url}">' in html


def test_settings_form_errors_are_shown(as_role, campaign):
    response = as_role("pi").post(
        reverse("campaigns:settings", args=["nightsky"]), {"data_paths": "relative/path"}
    )
    assert response.status_code == 400
    assert b"is not an absolute path" in response.content


def test_who_can_read_rejects_a_bad_path_with_a_sentence(as_role, campaign):
    response = as_role("outsider").get(reverse("campaigns:who_can_read"), {"path": "/data/../etc"})
    assert b"write the path out in full" in response.content
    assert response.context["decision"] is None


# --- bounded queries --------------------------------------------------------------------------


def grow(admin, pi, n_campaigns: int, n_members: int) -> None:
    people = [account_create(name=f"bulkp{i}") for i in range(n_members)]
    for c in range(n_campaigns):
        campaign = services.campaign_create(
            slug=f"bulk{c}", title=f"Bulk {c}", pi=pi, actor=admin, data_paths=[f"/bulk/{c}-data"]
        )
        Membership.objects.bulk_create(
            Membership(campaign=campaign, account=p, state="approved") for p in people
        )


PAGES = [  # measured counts; any growth with the data is a regression
    ("list", "campaigns:list", [], "member", 4),
    ("list anonymous", "campaigns:list", [], "anonymous", 2),
    ("detail", "campaigns:detail", ["nightsky"], "member", 7),  # +1: storage elements
    ("manage", "campaigns:manage", ["nightsky"], "pi", 6),
    ("mine", "campaigns:mine", [], "manager", 7),  # + the new campaigns you asked for
    ("who can read", "campaigns:who_can_read", [], "pi", 10),
]


@pytest.mark.parametrize(("label", "name", "args", "role", "limit"), PAGES)
def test_queries_do_not_grow_with_the_data(
    label, name, args, role, limit, admin, pi, as_role, campaign, django_assert_max_num_queries
):
    client = as_role(role)
    query = {"path": "/data/nightsky/x", "account": "member"} if "who" in label else {}
    with django_assert_max_num_queries(limit):
        assert client.get(reverse(name, args=args), query).status_code == 200
    grow(admin, pi, n_campaigns=30, n_members=15)
    Membership.objects.bulk_create(
        Membership(campaign=campaign, account=p, state="approved")
        for p in Account.objects.filter(name__startswith="bulkp")
    )
    with django_assert_max_num_queries(limit):
        assert client.get(reverse(name, args=args), query).status_code == 200
