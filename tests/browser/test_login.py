"""Logging in through two real providers (devidp) in headless Chromium, as people would."""

import re

import pytest
from django.core import mail

from accounts.identities import oidc_identity
from accounts.models import Account, AuditEvent, Identity, Registration
from accounts.services import identity_add
from tests.conftest import IDP_USERS

pytestmark = pytest.mark.browser

ALICE_WLCG, ALICE_CERN = IDP_USERS["wlcg"][0], IDP_USERS["cern"][0]
BOB = IDP_USERS["wlcg"][1]
DAVE = IDP_USERS["cern"][1]


def link(account, idp, user) -> None:
    identity_add(
        actor=None,
        account=account,
        type=Identity.Type.OIDC,
        identity=oidc_identity(issuer=idp.issuer, sub=user["sub"]),
    )


def logged_in_as(page, name: str) -> bool:
    return page.get_by_title("Your account").inner_text().strip().endswith(name)


def test_register_approve_login_and_second_provider(
    page, browser, live_server, idpsecrets, idp_wlcg, idp_cern, admin, login_as
):
    # Alice's first login: the provider knows her, the portal does not.
    login_as(page, "alice", ALICE_WLCG["password"], "WLCG IAM")
    assert page.url.endswith("/register/")
    assert page.get_by_label("Account name").input_value() == "alice"
    assert page.get_by_label("Email").input_value() == "alice@example.org"
    page.get_by_label("Anything the admins should know").fill("Radio astronomy group")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url("**/register/waiting/")
    assert page.get_by_role("heading", name="Waiting for approval").is_visible()
    assert page.get_by_role("link", name="Log in", exact=True).is_visible()  # still logged out
    page.goto("/")  # coming back later, the home page says where the registration stands
    assert page.get_by_text("Your registration is waiting for approval since").is_visible()

    # An admin (linked to Dave at CERN SSO) approves it on the approval page.
    link(admin, idp_cern, DAVE)
    admin_context = browser.new_context(base_url=live_server.url)
    admin_page = admin_context.new_page()
    admin_page.set_default_timeout(15_000)
    login_as(admin_page, "dave", DAVE["password"], "CERN SSO")
    admin_page.get_by_role("link", name="Registrations").click()
    row = admin_page.locator("tr", has_text="Radio astronomy group")
    assert row.get_by_label("Account name").input_value() == "alice"
    row.get_by_role("button", name="Approve").click()  # htmx swaps the row
    admin_page.locator("tr", has_text="approved").wait_for()
    admin_context.close()

    account = Account.objects.get(name="alice")
    assert account.uid and Registration.objects.get().state == "approved"
    # The admins were told that alice waits; then alice that her account is ready.
    assert [m.to for m in mail.outbox] == [["admin@example.org"], ["alice@example.org"]]
    assert "alice registered and waits for approval" in mail.outbox[0].subject
    assert "alice is ready" in mail.outbox[1].subject

    # Now her login works (the provider still has her session: no second password prompt).
    login_as(page, "alice", ALICE_WLCG["password"], "WLCG IAM")
    assert page.url == f"{live_server.url}/"
    assert logged_in_as(page, "alice")

    # Her CERN identity, once linked, logs in to the same account.
    link(account, idp_cern, ALICE_CERN)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/")
    login_as(page, "alice", ALICE_CERN["password"], "CERN SSO")
    assert logged_in_as(page, "alice")
    logins = AuditEvent.objects.filter(action="login.success", account=account)
    assert sorted(e.detail["idp"] for e in logins) == ["cern", "wlcg"]


def test_suspended_account_is_refused_with_the_reason(page, idpsecrets, idp_wlcg, member, login_as):
    link(member, idp_wlcg, BOB)
    Account.objects.filter(pk=member.pk).update(
        status=Account.Status.SUSPENDED, status_reason="The embargo audit is not finished"
    )
    login_as(page, "bob", BOB["password"], "WLCG IAM")
    alert = page.get_by_role("alert")
    assert "member is suspended: The embargo audit is not finished" in alert.inner_text()
    assert page.get_by_role("link", name="Try again").is_visible()
    assert page.get_by_role("link", name="Log in", exact=True).is_visible()  # no session


def test_logout_ends_the_session_here_and_at_the_provider(
    page, live_server, idpsecrets, idp_wlcg, member, login_as
):
    link(member, idp_wlcg, BOB)
    login_as(page, "bob", BOB["password"], "WLCG IAM")
    assert logged_in_as(page, "member")
    visited = []
    page.on("request", lambda request: visited.append(request.url))

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/")
    end_session = idp_wlcg.discovery()["end_session_endpoint"]
    assert any(url.startswith(end_session) for url in visited)
    assert page.get_by_role("link", name="Log in", exact=True).is_visible()

    # The provider's session is over too: logging in asks for the password again.
    page.goto("/login/")
    page.get_by_role("link", name="WLCG IAM").click()
    page.wait_for_url(re.compile(r"/interaction/"))
    assert page.get_by_label("Password").is_visible()
