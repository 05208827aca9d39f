"""In Chromium: a member asks for a storage token on the campaign page; htmx swaps the panel and
shows the token once with commands; the page also works at 390 px."""

import datetime
import os
from pathlib import Path

import jwt
import pytest
from django.utils import timezone

from accounts.services import account_create
from campaigns import services
from tokens.issuer.keys import issuer_key_create
from tokens.models import IssuedToken, StorageElement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("GATEHOUSE_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def cast(db, settings):
    settings.SITE_URL = "https://gatehouse.example.org"
    issuer_key_create()
    admin = account_create(name="admin", is_staff=True, is_superuser=True)
    pi = account_create(name="pat", display_name="Pat Ingram")
    bob = account_create(name="bob", display_name="Bob Baker")
    campaign = services.campaign_create(
        slug="nightsky-2025",
        title="Night Sky Survey 2025",
        pi=pi,
        actor=admin,
        embargo_until=timezone.localdate() + datetime.timedelta(days=200),
        data_paths=["/data/nightsky-2025"],
    )
    asked = services.membership_request(campaign=campaign, account=bob)
    services.membership_approve(membership=asked, actor=pi)
    StorageElement.objects.create(
        name="dcache",
        audiences=["https://dcache.example.org"],
        base_path="/data",
        endpoints=["https://dcache.example.org:2880", "root://dcache.example.org:1094"],
    )
    return {"bob": bob}


def test_member_gets_a_token_in_the_panel(page, live_server, cast, shots, sign_in):
    sign_in(page, cast["bob"])
    page.goto("/campaigns/nightsky-2025/")
    panel = page.locator("#storage-access")
    panel.get_by_label("Only this part (optional)").fill("run1/img-0001.fits")
    panel.get_by_label("Valid for").select_option("10")
    panel.get_by_role("button", name="Get a token").click()
    page.locator("#minted-token").wait_for()
    token = page.locator("#minted-token").input_value()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scope"] == "storage.read:/nightsky-2025/run1/img-0001.fits"
    assert IssuedToken.objects.get().jti == claims["jti"]
    assert "xrdcp root://dcache.example.org:1094//data/nightsky-2025/run1/img-0001.fits" in (
        panel.inner_text()
    )
    assert page.url.endswith("/campaigns/nightsky-2025/")  # htmx swapped the panel in place
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=shots / "storage-access.png")
    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
