"""Issue 11 case 5: page 10^18 on every page a visitor can ask for answers, never with a 500.

`/campaigns/<slug>/?page=922337203685477580` turned into an OFFSET beyond PostgreSQL's bigint.
Every GET URL of the site (the table of test_url_permissions) and every admin list is asked for
page 10^18 (`page` and the admin's `p`), as anonymous, a member and an admin, and with the data
grown past one page so the pagers are really in use.
"""

import pytest
from django.contrib import admin as django_admin
from django.urls import reverse

from accounts.services import account_create
from campaigns.models import Campaign, Membership
from tests.integration import test_url_permissions as permissions
from tests.integration.test_url_permissions import ROWS, client_as, url_for

world = permissions.world  # the same cast and objects as the permission table

pytestmark = pytest.mark.django_db
HUGE = str(10**18)
GETS = sorted(name for name, row in ROWS.items() if row.method == "get")


@pytest.fixture
def crowded(world):
    """More members than one page of the member list holds."""
    campaign = Campaign.objects.get(slug=world["slug"])
    people = [account_create(name=f"crowd{i}") for i in range(30)]
    Membership.objects.bulk_create(
        Membership(campaign=campaign, account=p, state="approved") for p in people
    )
    world["people"]["pi"] = campaign.pi
    return world


@pytest.mark.parametrize("who", ["anonymous", "user", "admin", "pi"])
@pytest.mark.parametrize("name", GETS)
def test_page_ten_to_the_eighteen_on_every_page(name, who, crowded):
    url = url_for(name, ROWS[name], crowded)
    client = client_as(who, crowded)
    for query in ({"page": HUGE}, {"page": HUGE, "q": "crowd"}, {"page": "-" + HUGE}):
        response = client.get(url, query)
        assert response.status_code < 500, (name, who, query, response.status_code)
        response = client.get(url, query, HTTP_HX_REQUEST="true")
        assert response.status_code < 500, (name, who, query, response.status_code)


def test_a_huge_page_shows_the_last_page(crowded):
    """Like Paginator.get_page: past the end is the last page."""
    client = client_as("pi", crowded)
    for url in (
        reverse("campaigns:detail", args=[crowded["slug"]]),
        reverse("campaigns:manage", args=[crowded["slug"]]),
    ):
        response = client.get(url, {"page": HUGE})
        assert response.status_code == 200
        members = response.context["members"]
        assert members.number == members.paginator.num_pages > 1, url


def test_admin_lists_at_page_ten_to_the_eighteen(world):
    staff = client_as("admin", world)
    for model in django_admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = staff.get(url, {"p": HUGE})
        assert response.status_code < 500, url
