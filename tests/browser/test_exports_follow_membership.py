"""In Chromium and over HTTP: a membership approved on the manage page reaches the storage
exports; removed there, it leaves them. The node fetches with its token, as in
docs/storage-nodes.md (here with `requests` instead of curl)."""

import pytest
import requests

from accounts.models import Identity
from accounts.services import account_create
from campaigns import services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def node(live_server, settings):
    settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = 0
    _, secret = services.node_token_create(name="dcache-door-1")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {secret}"
    etags: dict[str, str] = {}

    def fetch(format_name: str) -> str | None:
        """The export's text, or None when unchanged since the last fetch (304)."""
        headers = {"If-None-Match": etags[format_name]} if format_name in etags else {}
        response = session.get(
            f"{live_server.url}/exports/{format_name}", headers=headers, timeout=30
        )
        if response.status_code == 304:
            return None
        response.raise_for_status()
        etags[format_name] = response.headers["ETag"]
        return response.content.decode()

    yield fetch
    session.close()  # ends the keep-alive connection, and with it the server thread's DB session


def test_approval_and_removal_reach_the_exports(page, live_server, node, sign_in):
    admin = account_create(name="admin", is_staff=True, is_superuser=True)
    pi = account_create(name="pat", email="pat@example.org", display_name="Pat Ingram")
    alice = account_create(name="alice", email="alice@example.org", display_name="Alice Archer")
    Identity.objects.create(
        account=alice, type=Identity.Type.X509, identity="/C=DE/O=GermanGrid/CN=Alice Archer"
    )
    campaign = services.campaign_create(
        slug="nightsky-2025", title="Night Sky Survey 2025", pi=pi, actor=admin
    )
    gid = campaign.gid

    assert f"nightsky-2025:x:{gid}:pat" in node("group").splitlines()  # the PI is a member
    assert "username:alice" not in node("multimap-campaigns")
    assert (
        f'"dn:/C=DE/O=GermanGrid/CN=Alice Archer" username:alice uid:{alice.uid} '
        f"gid:{alice.uid},true" in node("multimap-ids").splitlines()
    )
    assert node("group") is None  # nothing changed: 304

    sign_in(page, alice)
    page.goto("/campaigns/nightsky-2025/")
    page.get_by_role("button", name="Request to join").click()
    page.get_by_text("Your request to join nightsky-2025 was sent").wait_for()
    assert "username:alice" not in node("multimap-campaigns")  # a request grants nothing

    sign_in(page, pi)
    page.goto("/campaigns/nightsky-2025/manage/")
    page.locator("li.request", has_text="alice").get_by_role("button", name="Approve").click()
    page.locator("#members tr", has_text="Alice Archer").wait_for()

    sign_in(page, alice)
    page.goto("/campaigns/mine/")
    assert "approved" in page.locator("#memberships tr", has_text="nightsky-2025").inner_text()

    assert f"username:alice gid:{gid}" in node("multimap-campaigns").splitlines()
    assert f"nightsky-2025:x:{gid}:alice,pat" in node("group").splitlines()

    sign_in(page, pi)
    page.goto("/campaigns/nightsky-2025/manage/")
    row = page.locator("#members tr", has_text="Alice Archer")
    row.get_by_text("Remove…").click()
    row.get_by_role("button", name="Remove alice").click()
    page.locator("#members tr", has_text="Alice Archer").wait_for(state="detached")

    assert "username:alice" not in node("multimap-campaigns")
    assert f"nightsky-2025:x:{gid}:pat" in node("group").splitlines()
