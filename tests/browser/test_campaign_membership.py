"""In Chromium: a scientist asks to join, the PI approves on the manage page, the scientist sees it.

People are logged in by a session cookie from Django's test client (force_login): the OIDC
login itself is tested by the login pages' own browser tests.
"""

import datetime
import os
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.services import account_create
from campaigns import services
from campaigns.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: GATEHOUSE_SCREENSHOTS if set (to look at them), else tmp."""
    folder = Path(os.environ.get("GATEHOUSE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def cast(db):
    admin = account_create(name="admin", is_staff=True, is_superuser=True)
    pi = account_create(name="pat", email="pat@example.org", display_name="Pat Ingram")
    alice = account_create(name="alice", email="alice@example.org", display_name="Alice Archer")
    bob = account_create(name="bob", email="bob@example.org", display_name="Bob Baker")
    today = timezone.localdate()
    campaign = services.campaign_create(
        slug="nightsky-2025",
        title="Night Sky Survey 2025",
        description="Wide-field imaging of the northern sky, 412 nights.",
        pi=pi,
        actor=admin,
        embargo_until=datetime.date(today.year + 1, 6, 30),
        data_paths=["/data/nightsky-2025", "/tape/nightsky-2025"],
    )
    request = services.membership_request(campaign=campaign, account=bob, message="Pipeline work.")
    services.membership_approve(
        membership=request, actor=pi, valid_until=today + datetime.timedelta(days=14)
    )
    services.campaign_create(
        slug="solar-2023",
        title="Solar Flare Campaign 2023",
        pi=bob,
        actor=admin,
        embargo_until=datetime.date(2024, 1, 31),
        data_paths=["/data/solar-2023"],
    )
    return {"pi": pi, "alice": alice, "bob": bob, "campaign": campaign}


def test_request_approve_and_see_it_in_my_campaigns(page, live_server, cast, shots, sign_in):
    alice, pi = cast["alice"], cast["pi"]

    # Alice finds the campaign and asks to join.
    sign_in(page, alice)
    page.goto("/campaigns/")
    page.screenshot(path=shots / "campaign-list.png", full_page=True)
    row = page.locator("tr", has_text="nightsky-2025")
    assert "Pat Ingram" in row.inner_text() and "days left" in row.inner_text()
    row.get_by_role("link", name="nightsky-2025").click()
    page.get_by_label("Message to the PI (optional)").fill("I study variable stars.")
    page.screenshot(path=shots / "campaign-detail.png", full_page=True)
    page.get_by_role("button", name="Request to join").click()
    page.get_by_text("Your request to join nightsky-2025 was sent").wait_for()
    assert page.get_by_role("button", name="Withdraw request").is_visible()

    # The PI approves on the manage page; htmx swaps the lists in place.
    sign_in(page, pi)
    page.goto("/campaigns/nightsky-2025/manage/")
    request = page.locator("li.request", has_text="alice")
    assert "I study variable stars." in request.inner_text()
    page.screenshot(path=shots / "campaign-manage.png", full_page=True)
    request.get_by_label("Comment").fill("Welcome aboard")
    url_before = page.url
    request.get_by_role("button", name="Approve").click()
    page.locator("#requests").get_by_text("alice is now a member of nightsky-2025.").wait_for()
    assert page.url == url_before  # swapped in place, no reload
    page.locator("#members tr", has_text="Alice Archer").wait_for()
    page.screenshot(path=shots / "campaign-manage-after.png", full_page=True)

    # End dates are set and cleared in place too (the Clear button's name reaches the server).
    end = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
    row = page.locator("#members tr", has_text="Alice Archer")
    row.get_by_label("End date for alice").fill(end)
    row.get_by_role("button", name="Set").click()
    page.locator("#members").get_by_text(f"alice's membership now ends after {end}.").wait_for()
    page.locator("#members tr", has_text="Alice Archer").get_by_role("button", name="Clear").click()
    page.locator("#members").get_by_text("alice's membership has no end date now.").wait_for()
    assert page.url == url_before
    membership = Membership.objects.get(account=alice, campaign=cast["campaign"])
    assert (membership.state, membership.decided_by, membership.comment) == (
        "approved",
        pi,
        "Welcome aboard",
    )

    # Alice sees her membership.
    sign_in(page, alice)
    page.goto("/campaigns/mine/")
    row = page.locator("#memberships tr", has_text="nightsky-2025")
    assert "approved" in row.inner_text()
    page.screenshot(path=shots / "campaign-mine.png", full_page=True)
    page.goto("/campaigns/nightsky-2025/")
    assert page.locator("#members tr", has_text="Alice Archer").is_visible()
    page.screenshot(path=shots / "campaign-detail-member.png", full_page=True)
    # Leaving asks first (htmx swaps the confirmation into the card), and "Stay" changes nothing.
    page.get_by_role("link", name="Leave nightsky-2025…").click()
    confirm = page.get_by_role("button", name="Yes, leave nightsky-2025")
    confirm.wait_for()
    assert page.url.endswith("/campaigns/nightsky-2025/")  # swapped in, not a new page
    assert Membership.objects.get(account=alice, campaign=cast["campaign"]).state == "approved"
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto("/campaigns/")
    page.screenshot(path=shots / "campaign-list-narrow.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/campaigns/who-can-read/?path=/data/nightsky-2025/raw/0001.fits")
    assert "alice is a member of campaign nightsky-2025" in page.locator("#decision").inner_text()
    page.screenshot(path=shots / "campaign-who-can-read.png", full_page=True)


def test_reject_without_javascript_needs_a_reason(browser, live_server, cast, shots, sign_in):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    services.membership_request(campaign=cast["campaign"], account=cast["alice"])
    sign_in(page, cast["pi"])
    page.goto("/campaigns/nightsky-2025/manage/")
    request = page.locator("li.request", has_text="alice")
    request.get_by_role("button", name="Reject").click()
    page.get_by_text("Give a reason for the rejection").wait_for()
    page.locator("li.request", has_text="alice").get_by_label("Comment").fill("Not this year.")
    page.locator("li.request", has_text="alice").get_by_role("button", name="Reject").click()
    page.get_by_text("You rejected alice's request").wait_for()
    assert Membership.objects.get(account=cast["alice"]).state == "rejected"
    context.close()


def test_leave_without_javascript_confirms_then_shows_left(browser, live_server, cast, sign_in):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        bob = cast["bob"]
        sign_in(page, bob)
        page.goto("/campaigns/nightsky-2025/")
        page.get_by_role("link", name="Leave nightsky-2025…").click()
        page.get_by_role("heading", name="Leave nightsky-2025?").wait_for()
        page.get_by_label("Comment for the PI (optional)").fill("Thesis done.")
        page.get_by_role("button", name="Yes, leave nightsky-2025").click()
        page.get_by_text("You left nightsky-2025. Its PI has been told.").wait_for()
        page.goto("/campaigns/mine/")
        entry = page.locator("#history li", has_text="nightsky-2025")
        assert "left" in entry.inner_text() and "by bob" not in entry.inner_text()
        assert entry.locator(".badge-revoked").count() == 0
    finally:
        context.close()
