"""A signed-in user links the grid certificate a trusted proxy vouches for, then removes it."""

import os
from pathlib import Path

import pytest

from accounts.models import Identity
from accounts.services import identity_add

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JANE_DN = "/C=DE/O=GermanGrid/CN=Jane Doe"


def test_link_a_certificate_through_the_proxy_and_see_it_listed(
    page, live_server, member, settings, tmp_path, sign_in
):
    # The live server is reached on loopback: trust it as the certificate proxy for this test.
    settings.GATEHOUSE_CERT_PROXIES = ["127.0.0.1", "::1"]
    identity_add(
        account=member,
        type="OIDC",
        identity="SUB=m-1, ISS=http://127.0.0.1:9400/",
        source="login",
        actor=None,
    )
    sign_in(page, member)
    page.set_extra_http_headers(
        {
            settings.GATEHOUSE_CERT_DN_HEADER: r"CN=Jane Doe,O=GermanGrid,C=DE",
            settings.GATEHOUSE_CERT_VERIFY_HEADER: "SUCCESS",
        }
    )

    page.goto("/account/")
    assert page.get_by_role("heading", name="My account").is_visible()
    page.get_by_role("link", name="Link a grid certificate").click()

    page.wait_for_url("**/account/certificate/")
    shots = Path(os.environ.get("GATEHOUSE_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(shots / "certificate-page.png"), full_page=True)
    assert page.get_by_text(JANE_DN).is_visible()
    assert page.get_by_text("CN=Jane Doe,O=GermanGrid,C=DE").is_visible()
    page.get_by_role("button", name="Link this certificate").click()

    page.wait_for_url("**/account/")
    assert "is now linked to your account" in page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text=JANE_DN)
    assert row.get_by_text("X.509", exact=True).is_visible()
    assert Identity.objects.get(type="X509").account == member

    page.screenshot(path=str(shots / "account-page.png"), full_page=True)

    row.get_by_role("link", name="Remove").click()
    page.wait_for_url("**/remove/")
    assert page.get_by_role("heading", name="Remove this certificate?").is_visible()
    page.screenshot(path=str(shots / "remove-page.png"), full_page=True)
    page.get_by_role("button", name="Remove").click()
    page.wait_for_url("**/account/")
    assert "no longer linked" in page.get_by_role("status").inner_text()
    assert page.get_by_role("row").filter(has_text=JANE_DN).count() == 0
    assert not Identity.objects.filter(type="X509").exists()
