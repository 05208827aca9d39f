"""Every main page fits a 390x844 phone viewport, for each role, with no sideways scrolling.

Two checks per page: the document is no wider than the viewport, and no visible element inside
the page scrolls sideways (a table that scrolls inside its card hides columns just the same).
People are signed in by session cookie (sign_in); tokens are signed by a loopback issuer.
"""

import datetime
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.crypto import token_hash
from accounts.models import Registration, SyncRun
from campaigns import services
from tokens.models import Token

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# Elements that scroll sideways inside <main>, leaving out what is hidden on purpose.
INNER_SCROLLERS = """() => [...document.querySelectorAll('main *')]
  .filter(e => !['THEAD', 'TEXTAREA', 'INPUT', 'SELECT'].includes(e.tagName) && !e.closest('.visually-hidden, thead'))
  .filter(e => getComputedStyle(e).overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} ${e.scrollWidth}px`)"""


def _hold_token(issuer, account) -> Token:
    scope = (
        "openid profile email offline_access wlcg.groups "
        "storage.read:/data/nightsky-2025-observations/raw-frames storage.create:/scratch/a-long-path"
    )
    raw = issuer.sign(issuer.claims(sub=f"sub-{account.name}", scope=scope))
    return Token.objects.create(
        account=account,
        idp="test",
        token_hash=token_hash(raw),
        token=raw,
        scope=scope,
        audience="https://wlcg.cern.ch/jwt/v1/any",
        expires_at=timezone.now() + timedelta(minutes=50),
        refresh_token="refresh-" + account.name,
        refresh_expires_at=timezone.now() + timedelta(hours=96),
    )


@pytest.fixture
def portal(issuer, admin, pi, manager, member, requester):
    today = timezone.localdate()
    campaign = services.campaign_create(
        slug="nightsky-2025-observations",
        title="Night Sky Survey 2025: wide-field observations of the northern sky",
        description="Wide-field imaging of the northern sky, 412 nights.",
        pi=pi,
        actor=admin,
        embargo_until=datetime.date(today.year + 1, 6, 30),
        data_paths=["/data/nightsky-2025-observations", "/tape/nightsky-2025-observations"],
    )
    for person, until in ((member, today + timedelta(days=10)), (manager, None)):
        joined = services.membership_request(campaign=campaign, account=person)
        services.membership_approve(membership=joined, actor=pi, valid_until=until)
    services.manager_appoint(campaign=campaign, account=manager, actor=pi)
    services.membership_request(
        campaign=campaign, account=requester, message="I work on the variable-star pipeline."
    )
    services.campaign_request_create(
        requester=member,
        slug="deepfield-2027-ultra",
        title="Ultra-deep field imaging 2027",
        reason="Approved proposal 2027-114.",
        data_paths=["/data/deepfield-2027-ultra-deep-field-imaging"],
    )
    Registration.objects.create(
        idp="test",
        identity=f"SUB=0c1d-22-a-rather-long-subject-identifier, ISS={issuer.issuer}",
        requested_name="newcomer",
        email="newcomer@example.org",
        display_name="New Comer",
    )
    finished = timezone.now()
    SyncRun.objects.create(
        kind=SyncRun.Kind.SCIM,
        idp="test",
        finished=finished,
        outcome=SyncRun.Outcome.SUCCESS,
        counts={"users": 1200, "created": 12, "updated": 40, "suspended": 2},
        triggered_by="beat",
    )
    SyncRun.objects.create(
        kind=SyncRun.Kind.RUCIO,
        finished=finished,
        outcome=SyncRun.Outcome.FAILED,
        error="Rucio answered 503 for account deepfield-2027-ultra-imaging: try again later.",
        counts={"accounts": 1200, "in_sync": 1190, "created": 8, "identities_added": 16,
                "requests": 31, "failed": 2,
                "report": ["ultra-long-account-name-0001: identity SUB=0c1d-22-a-rather-long"]},
        triggered_by="admin",
    )  # fmt: skip
    tokens = {person.name: _hold_token(issuer, person) for person in (admin, pi, member)}
    return {"campaign": campaign, "tokens": tokens}


def _pages(role: str, portal) -> list[str]:
    slug = portal["campaign"].slug
    pages = [
        "/",
        "/campaigns/",
        f"/campaigns/{slug}/",
        f"/campaigns/who-can-read/?path=/data/{slug}/raw/frame-0001.fits",
        "/tokens/inspect/",
    ]
    if role == "anonymous":
        return pages + ["/login/"]
    pages += ["/campaigns/mine/", "/campaigns/new/", "/tokens/", "/account/"]
    if role in ("pi", "admin"):
        pages.append(f"/campaigns/{slug}/manage/")
    if role in ("member", "pi", "admin"):
        pages.append(f"/tokens/{portal['tokens'][role].pk}/")
    if role == "admin":
        pages += ["/tokens/all/", "/registrations/", "/sync/", "/rucio/", "/campaigns/requests/"]
    return pages


@pytest.mark.parametrize("role", ["anonymous", "member", "pi", "admin"])
def test_every_main_page_fits_a_phone(browser, live_server, sign_in, portal, role, request):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    try:
        if role != "anonymous":
            sign_in(page, request.getfixturevalue(role))
        for path in _pages(role, portal):
            response = page.goto(path)
            assert response.status == 200, path
            expect(page.locator("main h1").first).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide as {role}"
            assert page.evaluate(INNER_SCROLLERS) == [], f"{path} scrolls sideways as {role}"
    finally:
        context.close()


def test_inspect_result_fits_a_phone(browser, live_server, issuer, portal):
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    try:
        page.goto("/tokens/inspect/")
        page.fill("#id_token", portal["tokens"]["member"].token)
        page.select_option("#id_operation", "read")
        page.fill("#id_path", "/vo/data/nightsky-2025-observations/raw-frames/frame-000001.fits")
        page.click("button:has-text('Inspect')")
        expect(page.locator("#result")).to_contain_text("Header and claims")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.evaluate(INNER_SCROLLERS) == []
        # Claim names are never broken inside a word.
        name = page.locator("th.claim-name code", has_text="wlcg.ver").first
        assert name.evaluate("e => e.getClientRects().length") == 1
    finally:
        context.close()


def test_the_admin_nav_fits_one_line_at_1280(browser, live_server, sign_in, portal, admin):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, admin)
        page.goto("/")
        expect(page.get_by_role("link", name="Registrations, 1 waiting")).to_be_visible()
        tops = page.locator(".nav-links a").evaluate_all(
            "links => [...new Set(links.map(a => a.getBoundingClientRect().top))]"
        )
        assert len(tops) == 1, f"the admin nav wrapped onto a second line: {tops}"
    finally:
        context.close()
