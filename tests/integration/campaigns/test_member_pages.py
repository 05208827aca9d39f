"""Member lists on the detail and manage pages: pages, search, and actions that keep the page."""

import re

import pytest
from django.urls import resolve, reverse

from accounts.services import account_create
from campaigns import services
from campaigns.models import Membership
from campaigns.selectors import MEMBER_PAGE_SIZE, REQUESTS_SHOWN
from tests.integration.campaigns.conftest import open_membership

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
EXTRA = MEMBER_PAGE_SIZE + 5  # the cast's pi, manager and member come on top


@pytest.fixture
def crowd(campaign):
    """EXTRA more approved members, crowd00 ... crowdNN."""
    people = [account_create(name=f"crowd{i:02d}") for i in range(EXTRA)]
    Membership.objects.bulk_create(
        Membership(campaign=campaign, account=p, state="approved") for p in people
    )
    return people


def names(response) -> list[str]:
    return [m.account.name for m in response.context["members"].object_list]


@pytest.mark.parametrize(("page", "role"), [("detail", "member"), ("manage", "manager")])
def test_members_come_in_pages(page, role, as_role, crowd, campaign):
    client = as_role(role)
    url = reverse(f"campaigns:{page}", args=["nightsky"])
    first = client.get(url)
    assert names(first)[:3] == ["pi", "manager", "crowd00"]  # PI, managers, then by name
    assert len(names(first)) == MEMBER_PAGE_SIZE
    html = first.content.decode()
    total = EXTRA + 3
    assert f"Page 1 of 2 · {total} members" in html
    assert f'href="{url}?page=2#members"' in html
    second = client.get(url, {"page": 2})
    assert names(second) == [f"crowd{i:02d}" for i in range(MEMBER_PAGE_SIZE - 2, EXTRA)] + [
        "member"
    ]
    assert client.get(url, {"page": 99}).context["members"].number == 2  # past the end: last
    assert client.get(url, {"page": "x"}).context["members"].number == 1


@pytest.mark.parametrize(("page", "role"), [("detail", "pi"), ("manage", "admin")])
def test_members_can_be_searched(page, role, as_role, crowd, campaign):
    client = as_role(role)
    url = reverse(f"campaigns:{page}", args=["nightsky"])
    assert names(client.get(url, {"q": "CROWD1"})) == [f"crowd1{i}" for i in range(10)]
    assert names(client.get(url, {"q": "Member"})) == ["member"]
    nobody = client.get(url, {"q": "nobody"}).content.decode()
    assert "No member matches “nobody”" in nobody
    assert 'value="nobody"' in nobody


def test_the_small_member_list_has_no_search_or_pages(as_role, campaign):
    html = as_role("pi").get(reverse("campaigns:manage", args=["nightsky"])).content.decode()
    assert "Find a member" not in html and "Member pages" not in html


def test_every_action_on_the_manage_page_reaches_its_view(as_role, requester, crowd, campaign):
    """The rows' action URLs are built on the manage URL in the template: check them all."""
    url = reverse("campaigns:manage", args=["nightsky"])
    html = as_role("pi").get(url, {"q": "r"}).content.decode()
    actions = re.findall(r'(?:action|formaction)="([^"]+)"', html)
    seen = set()
    for action in actions:
        path, _, query = action.replace("&amp;", "&").split("#")[0].partition("?")
        match = resolve(path)
        seen.add(match.url_name)
        if path.startswith(url) and match.url_name not in ("manage", "settings"):
            assert match.kwargs["slug"] == "nightsky" and query == "q=r", action
        if "pk" in match.kwargs:
            Membership.objects.get(pk=match.kwargs["pk"], campaign=campaign)
    assert seen == {
        "logout",
        "manage",  # the member search
        "approve",
        "reject",
        "member_valid_until",
        "manager_appoint",
        "manager_remove",
        "member_remove",
        "member_add",
        "settings",
    }


def test_manage_actions_come_back_to_the_same_page_of_the_list(as_role, crowd, campaign):
    client = as_role("pi")
    target = open_membership(campaign, crowd[-1])
    url = reverse("campaigns:member_valid_until", args=["nightsky", target.pk])
    response = client.post(f"{url}?q=crowd&page=2", {"valid_until": ""})
    assert response.status_code == 302
    assert response["Location"].endswith("/manage/?q=crowd&page=2#members")
    fragment = client.post(f"{url}?q=crowd&page=2", {"valid_until": "", "clear": "1"}, **HTMX)
    assert fragment.context["members"].number == 2
    assert crowd[-1].name in names(fragment)


def test_only_the_oldest_requests_are_listed_with_the_total(admin, as_role, campaign):
    for i in range(REQUESTS_SHOWN + 2):
        services.membership_request(campaign=campaign, account=account_create(name=f"asker{i:02d}"))
    response = as_role("manager").get(reverse("campaigns:manage", args=["nightsky"]))
    shown = [m.account.name for m in response.context["requests"]]
    assert shown == ["requester"] + [f"asker{i:02d}" for i in range(REQUESTS_SHOWN - 1)]
    html = response.content.decode()
    total = REQUESTS_SHOWN + 3
    assert f'<span class="badge badge-requested">{total}</span>' in html
    assert f"These are the {REQUESTS_SHOWN} oldest of {total} requests" in html
