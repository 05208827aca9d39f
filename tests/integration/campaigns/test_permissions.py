"""Who may use each campaign page and action, and who may not (the whole cast, every view)."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent
from accounts.services import account_create
from campaigns.models import Campaign, Membership
from tests.integration.campaigns.conftest import ROLES, days, open_membership

pytestmark = pytest.mark.django_db
MANAGERS = {"manager", "pi", "admin"}


def assert_login_redirect(response):
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- pages anyone may see ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_list_is_public(role, as_role, campaign):
    response = as_role(role).get(reverse("campaigns:list"))
    assert response.status_code == 200
    assert b"nightsky" in response.content


@pytest.mark.parametrize("query", [{}, {"q": "quiet"}, {"page": "2"}])
@pytest.mark.parametrize("role", ROLES)
def test_detail_is_public_but_the_member_list_is_not(role, query, as_role, campaign):
    # The member list is read with the campaign for anyone signed in (one round trip), before
    # the page knows whether they may see it: they must not.
    quiet = account_create(name="quietmember", display_name="Quentin Unlisted")
    Membership.objects.create(campaign=campaign, account=quiet, state="approved")
    response = as_role(role).get(reverse("campaigns:detail", args=["nightsky"]), query)
    assert response.status_code == 200
    assert b"Wide-field imaging." in response.content
    sees_members = role in {"member", "manager", "pi", "admin"}
    assert (b'id="members"' in response.content) is sees_members
    assert (b"Quentin Unlisted" in response.content) is sees_members
    assert (b"Manage</a>" in response.content) is (role in MANAGERS)


def test_detail_of_an_unknown_campaign_is_404(as_role, campaign):
    assert as_role("member").get(reverse("campaigns:detail", args=["nope"])).status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_who_can_read_answers_everyone_about_a_path(role, as_role, campaign):
    url = reverse("campaigns:who_can_read")
    response = as_role(role).get(url, {"path": "/data/nightsky/x"})
    assert response.status_code == 200
    assert b'id="decision"' in response.content


@pytest.mark.parametrize("role", ROLES)
def test_who_can_read_for_another_account_is_for_managers_only(role, as_role, campaign):
    url = reverse("campaigns:who_can_read")
    response = as_role(role).get(url, {"path": "/data/nightsky/x", "account": "member"})
    assert response.status_code == 200
    may = role in MANAGERS or role == "member"  # the member asks about themselves
    assert (b"member is a member of campaign nightsky" in response.content) is may
    if not may:
        assert b"You may check only your own account" in response.content


# --- pages for logged-in people ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_my_campaigns_needs_a_login(role, as_role, campaign):
    response = as_role(role).get(reverse("campaigns:mine"))
    if role == "anonymous":
        assert_login_redirect(response)
        return
    assert response.status_code == 200
    listed = b'href="/campaigns/nightsky/"' in response.content
    assert listed is (role != "outsider" and role != "admin")


@pytest.mark.parametrize("role", ROLES)
def test_manage_page(role, as_role, campaign):
    response = as_role(role).get(reverse("campaigns:manage", args=["nightsky"]))
    if role == "anonymous":
        assert_login_redirect(response)
    elif role in MANAGERS:
        assert response.status_code == 200
        assert b"Please let me in." in response.content  # the waiting request
        assert (b'id="settings"' in response.content) is (role in {"pi", "admin"})
        assert (b"Make manager" in response.content) is (role == "pi")
    else:
        assert response.status_code == 403


# --- the member's own steps -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_request_to_join(role, as_role, campaign):
    response = as_role(role).post(
        reverse("campaigns:request", args=["nightsky"]), {"message": "hello"}
    )
    if role == "anonymous":
        assert_login_redirect(response)
        return
    assert response.status_code == 302
    new = Membership.objects.filter(campaign=campaign, request_message="hello")
    assert new.exists() is (role in {"outsider", "admin"})


@pytest.mark.parametrize("role", ROLES)
def test_withdraw(role, as_role, requester, campaign):
    response = as_role(role).post(reverse("campaigns:withdraw", args=["nightsky"]))
    if role == "anonymous":
        assert_login_redirect(response)
    elif role == "requester":
        assert response.status_code == 302
        assert Membership.objects.get(account=requester).state == "withdrawn"
    else:
        assert response.status_code == 404
        assert open_membership(campaign, requester).state == "requested"


@pytest.mark.parametrize("role", ROLES)
def test_leave(role, as_role, campaign):
    client = as_role(role)
    response = client.post(reverse("campaigns:leave", args=["nightsky"]), {"confirm": "yes"})
    if role == "anonymous":
        assert_login_redirect(response)
    elif role in {"member", "manager"}:
        assert response.status_code == 302
        person = as_role.people[role]
        assert Membership.objects.get(account=person).state == "left"
    elif role == "pi":
        assert response.status_code == 302
        page = client.get(response["Location"])
        assert b"The PI cannot leave" in page.content
        assert open_membership(campaign, as_role.people["pi"]).state == "approved"
    else:
        assert response.status_code == 404


# --- manage actions ---------------------------------------------------------------------------


def manage_action(role, as_role, name, args, data=None):
    return as_role(role).post(reverse(f"campaigns:{name}", args=["nightsky", *args]), data or {})


def expect(response, role, allowed: set[str]) -> bool:
    if role == "anonymous":
        assert_login_redirect(response)
        return False
    if role in allowed:
        assert response.status_code == 302, response.content[:500]
        assert response["Location"].startswith(reverse("campaigns:manage", args=["nightsky"]))
        return True
    assert response.status_code == 403
    return False


@pytest.mark.parametrize("role", ROLES)
def test_approve(role, as_role, requester, campaign):
    target = open_membership(campaign, requester)
    response = manage_action(role, as_role, "approve", [target.pk], {"comment": "ok"})
    done = expect(response, role, MANAGERS)
    target.refresh_from_db()
    assert (target.state == "approved") is done
    if done:
        event = AuditEvent.objects.get(action="membership.approve", account=requester)
        assert event.actor.name == role and event.comment == "ok"


@pytest.mark.parametrize("role", ROLES)
def test_reject(role, as_role, requester, campaign):
    target = open_membership(campaign, requester)
    response = manage_action(role, as_role, "reject", [target.pk], {"comment": "no overlap"})
    done = expect(response, role, MANAGERS)
    target.refresh_from_db()
    assert (target.state == "rejected") is done


@pytest.mark.parametrize("role", ROLES)
def test_add_member(role, as_role, outsider, campaign):
    response = manage_action(role, as_role, "member_add", [], {"account_name": "outsider"})
    done = expect(response, role, MANAGERS)
    added = Membership.objects.filter(account=outsider, state="approved").exists()
    assert added is done


@pytest.mark.parametrize("role", ROLES)
def test_remove_member(role, as_role, member, campaign):
    target = open_membership(campaign, member)
    response = manage_action(role, as_role, "member_remove", [target.pk], {"comment": "left"})
    done = expect(response, role, MANAGERS)
    target.refresh_from_db()
    assert (target.state == "revoked") is done


@pytest.mark.parametrize("role", ROLES)
def test_set_valid_until(role, as_role, member, campaign):
    target = open_membership(campaign, member)
    data = {"valid_until": days(40).isoformat()}
    response = manage_action(role, as_role, "member_valid_until", [target.pk], data)
    done = expect(response, role, MANAGERS)
    target.refresh_from_db()
    assert (target.valid_until == days(40)) is done


@pytest.mark.parametrize("role", ROLES)
def test_appoint_manager_is_for_the_pi(role, as_role, member, campaign):
    target = open_membership(campaign, member)
    done = expect(manage_action(role, as_role, "manager_appoint", [target.pk]), role, {"pi"})
    target.refresh_from_db()
    assert (target.role == "manager") is done


@pytest.mark.parametrize("role", ROLES)
def test_remove_manager_is_for_the_pi(role, as_role, manager, campaign):
    target = open_membership(campaign, manager)
    done = expect(manage_action(role, as_role, "manager_remove", [target.pk]), role, {"pi"})
    target.refresh_from_db()
    assert (target.role == "member") is done


@pytest.mark.parametrize("role", ROLES)
def test_settings_are_for_the_pi_and_admins(role, as_role, campaign):
    data = {"embargo_until": "", "data_paths": "/data/nightsky\n/data/extra", "comment": "x"}
    done = expect(manage_action(role, as_role, "settings", [], data), role, {"pi", "admin"})
    campaign.refresh_from_db()
    assert (campaign.embargo_until is None) is done
    assert (campaign.data_paths == ["/data/extra", "/data/nightsky"]) is done


# --- details that hold for every action -------------------------------------------------------


def test_a_membership_of_another_campaign_is_404(admin, pi, outsider, as_role, campaign):
    from campaigns import services

    other = services.campaign_create(slug="other", title="Other", pi=outsider, actor=admin)
    foreign = services.membership_request(campaign=other, account=pi)
    response = manage_action("pi", as_role, "approve", [foreign.pk])
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.state == "requested"


@pytest.mark.parametrize("name", ["request", "withdraw", "settings", "member_add", "approve"])
def test_actions_refuse_get(name, as_role, requester, campaign):
    args = ["nightsky"] + ([open_membership(campaign, requester).pk] if name == "approve" else [])
    assert as_role("pi").get(reverse(f"campaigns:{name}", args=args)).status_code == 405


def test_posts_need_the_csrf_token(pi, requester, campaign):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pi)
    target = open_membership(campaign, requester)
    response = client.post(reverse("campaigns:approve", args=["nightsky", target.pk]))
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.state == "requested"


def test_archived_campaign_refuses_requests_with_a_sentence(admin, outsider, as_role, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status="archived")
    client = as_role("outsider")
    response = client.post(reverse("campaigns:request", args=["nightsky"]), follow=True)
    assert b"is archived: it takes no new members" in response.content
    assert not Membership.objects.filter(account=outsider).exists()


# --- privilege escalation through end dates ------------------------------------------------------


def test_a_manager_cannot_lift_the_end_date_the_pi_gave_them(as_role, manager, campaign):
    own = open_membership(campaign, manager)
    Membership.objects.filter(pk=own.pk).update(valid_until=days(10))
    for data in ({"clear": "1"}, {"valid_until": days(400).isoformat()}):
        response = manage_action("manager", as_role, "member_valid_until", [own.pk], data)
        assert response.status_code == 403
        own.refresh_from_db()
        assert own.valid_until == days(10)


def test_only_the_pi_sets_a_managers_end_date(as_role, pi, manager, member, campaign):
    from campaigns import services

    services.manager_appoint(campaign=campaign, account=member, actor=pi)
    other_manager = open_membership(campaign, manager)
    data = {"valid_until": days(1).isoformat()}
    response = manage_action("member", as_role, "member_valid_until", [other_manager.pk], data)
    assert response.status_code == 403  # one manager may not end another (removing is the PI's)
    other_manager.refresh_from_db()
    assert other_manager.valid_until is None
    for role in ("pi", "admin"):
        assert expect(
            manage_action(role, as_role, "member_valid_until", [other_manager.pk], data),
            role,
            {role},
        )
    other_manager.refresh_from_db()
    assert other_manager.valid_until == days(1)


def test_who_can_read_others_only_where_ones_own_campaign_decides(
    as_role, admin, pi, outsider, campaign
):
    """Nested campaigns: the inner one decides its paths, so the outer one's PI may not learn
    who is a member of it by asking about other accounts there."""
    from campaigns import services

    inner = services.campaign_create(
        slug="nightsky-deep",
        title="Deep fields",
        pi=outsider,
        actor=admin,
        embargo_until=days(30),
        data_paths=["/elsewhere"],
    )
    # Nested paths are refused now; rows from before the rule may still nest.
    Campaign.objects.filter(pk=inner.pk).update(data_paths=["/data/nightsky/deep"])
    services.membership_add(campaign=inner, account_name="requester", actor=outsider)
    url = reverse("campaigns:who_can_read")
    asked = {"path": "/data/nightsky/deep/f1", "account": "requester"}
    response = as_role("pi").get(url, asked)
    assert b"You may check only your own account" in response.content
    assert b"requester is a member" not in response.content
    own = as_role("pi").get(url, {"path": "/data/nightsky/x", "account": "member"})
    assert b"member is a member of campaign nightsky" in own.content
    inner_pi = Client()
    inner_pi.force_login(outsider)
    assert b"requester is a member of campaign nightsky-deep" in inner_pi.get(url, asked).content


def test_leave_asks_to_confirm_first_with_and_without_htmx(as_role, campaign):
    client = as_role("member")
    url = reverse("campaigns:leave", args=["nightsky"])
    page = client.get(url)
    assert page.status_code == 200
    assert b"Leave nightsky?" in page.content and b'name="confirm" value="yes"' in page.content
    fragment = client.get(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'value="yes"' in fragment.content
    unconfirmed = client.post(url)  # a POST without the confirmation only asks again
    assert unconfirmed.status_code == 200 and b"Leave nightsky?" in unconfirmed.content
    assert open_membership(campaign, as_role.people["member"]).state == "approved"
    # the detail page links to the confirmation; it never leaves on one click
    detail = client.get(reverse("campaigns:detail", args=["nightsky"]))
    assert f'href="{url}" hx-get="{url}"'.encode() in detail.content
    assert f'action="{url}"'.encode() not in detail.content
