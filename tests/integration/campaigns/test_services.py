"""Campaign and membership services: the state machine, authority, audit."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.models import Account, AuditEvent
from accounts.services import account_create
from campaigns import services
from campaigns.models import Campaign, Membership
from tests.integration.campaigns.conftest import days, open_membership

pytestmark = pytest.mark.django_db
State = Membership.State


def test_campaign_create_allocates_a_gid_and_makes_the_pi_a_member(admin, pi):
    first = services.campaign_create(slug="one", title="One", pi=pi, actor=admin)
    second = services.campaign_create(
        slug="two", title="Two", pi=pi, actor=admin, data_paths=["/data/two/", " /data/two "]
    )
    assert second.gid == first.gid + 1
    assert second.data_paths == ["/data/two"]
    pi_membership = open_membership(first, pi)
    assert (pi_membership.role, pi_membership.state) == ("pi", "approved")
    event = AuditEvent.objects.get(action="campaign.create", target="campaign:one")
    assert event.actor == admin and event.detail["gid"] == first.gid


@pytest.mark.parametrize("slug", ["Upper", "9lives", "has space", "a" * 33, "mine"])
def test_campaign_create_refuses_names_that_are_not_posix_groups(admin, pi, slug):
    with pytest.raises(ValidationError):
        services.campaign_create(slug=slug, title="x", pi=pi, actor=admin)
    assert not Campaign.objects.exists()


def test_only_admins_create_archive_and_assign_pis(pi, manager, campaign):
    with pytest.raises(PermissionDenied):
        services.campaign_create(slug="mine2", title="x", pi=pi, actor=pi)
    with pytest.raises(PermissionDenied):
        services.campaign_archive(campaign=campaign, actor=pi)
    with pytest.raises(PermissionDenied):
        services.campaign_set_pi(campaign=campaign, pi=manager, actor=pi)


def test_archive_keeps_members_and_refuses_new_requests(admin, outsider, member, campaign):
    services.campaign_archive(campaign=campaign, actor=admin, comment="done")
    assert open_membership(campaign, member).state == State.APPROVED
    with pytest.raises(ValidationError, match="archived"):
        services.membership_request(campaign=campaign, account=outsider)
    with pytest.raises(ValidationError, match="already archived"):
        services.campaign_archive(campaign=campaign, actor=admin)


def test_set_pi_moves_the_role(admin, pi, member, campaign):
    services.campaign_set_pi(campaign=campaign, pi=member, actor=admin, comment="PI moved")
    campaign.refresh_from_db()
    assert campaign.pi == member
    assert open_membership(campaign, member).role == "pi"
    assert open_membership(campaign, pi).role == "member"
    assert AuditEvent.objects.filter(action="campaign.set_pi", comment="PI moved").exists()


def test_set_pi_to_an_outsider_approves_them(admin, outsider, campaign):
    services.campaign_set_pi(campaign=campaign, pi=outsider, actor=admin)
    assert open_membership(campaign, outsider).role == "pi"


def test_embargo_and_data_paths_by_pi_and_admin_only(admin, pi, manager, campaign):
    services.campaign_update_embargo(campaign=campaign, embargo_until=None, actor=pi, comment="x")
    services.campaign_update_data_paths(
        campaign=campaign, data_paths=["/d/a", "/d/a/"], actor=admin
    )
    campaign.refresh_from_db()
    assert campaign.embargo_until is None and campaign.data_paths == ["/d/a"]
    with pytest.raises(PermissionDenied):
        services.campaign_update_embargo(campaign=campaign, embargo_until=days(5), actor=manager)
    with pytest.raises(ValidationError, match="write the path out in full"):
        services.campaign_update_data_paths(campaign=campaign, data_paths=["/d/../x"], actor=pi)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"campaign.update_embargo", "campaign.update_data_paths"} <= actions


# --- the state machine ------------------------------------------------------------------------


def test_request_then_approve(pi, outsider, campaign):
    membership = services.membership_request(campaign=campaign, account=outsider, message="hi")
    assert membership.state == State.REQUESTED and membership.request_message == "hi"
    services.membership_approve(membership=membership, actor=pi, comment="welcome")
    membership.refresh_from_db()
    assert (membership.state, membership.decided_by, membership.comment) == (
        "approved",
        pi,
        "welcome",
    )
    event = AuditEvent.objects.get(action="membership.approve", account=outsider)
    assert event.actor == pi and event.comment == "welcome"


def test_request_twice_is_refused(requester, member, campaign):
    with pytest.raises(ValidationError, match="already asked"):
        services.membership_request(campaign=campaign, account=requester)
    with pytest.raises(ValidationError, match="already a member"):
        services.membership_request(campaign=campaign, account=member)


def test_request_again_after_a_rejection(pi, requester, campaign):
    services.membership_reject(
        membership=open_membership(campaign, requester), actor=pi, reason="not yet"
    )
    again = services.membership_request(campaign=campaign, account=requester)
    assert again.state == State.REQUESTED
    assert Membership.objects.filter(campaign=campaign, account=requester).count() == 2


def test_reject_needs_a_reason(manager, requester, campaign):
    membership = open_membership(campaign, requester)
    with pytest.raises(ValidationError, match="reason"):
        services.membership_reject(membership=membership, actor=manager, reason="  ")
    services.membership_reject(membership=membership, actor=manager, reason="No overlap.")
    membership.refresh_from_db()
    assert (membership.state, membership.comment) == ("rejected", "No overlap.")


def test_withdraw_by_the_requester_only(pi, requester, campaign):
    membership = open_membership(campaign, requester)
    with pytest.raises(PermissionDenied):
        services.membership_withdraw(membership=membership, actor=pi)
    services.membership_withdraw(membership=membership, actor=requester)
    membership.refresh_from_db()
    assert membership.state == State.WITHDRAWN


def test_leave_and_revoke(pi, manager, member, campaign):
    services.membership_leave(membership=open_membership(campaign, member), actor=member)
    assert Membership.objects.get(campaign=campaign, account=member).state == State.LEFT
    with pytest.raises(ValidationError, match="PI cannot leave"):
        services.membership_leave(membership=open_membership(campaign, pi), actor=pi)
    with pytest.raises(ValidationError, match="is the PI"):
        services.membership_revoke(membership=open_membership(campaign, pi), actor=manager)


def test_only_the_pi_removes_a_manager(pi, manager, admin, outsider, campaign):
    services.membership_add(campaign=campaign, account_name=outsider.name, actor=pi)
    services.manager_appoint(campaign=campaign, account=outsider, actor=pi)
    with pytest.raises(PermissionDenied, match="Only the PI"):
        services.membership_revoke(membership=open_membership(campaign, outsider), actor=manager)
    services.membership_revoke(membership=open_membership(campaign, outsider), actor=pi)
    assert not Membership.objects.filter(account=outsider, state=State.APPROVED).exists()


# Every step that the state machine does not allow, from every state.
STEPS = {
    "approve": lambda m, pi: services.membership_approve(membership=m, actor=pi),
    "reject": lambda m, pi: services.membership_reject(membership=m, actor=pi, reason="no"),
    "withdraw": lambda m, pi: services.membership_withdraw(membership=m, actor=m.account),
    "revoke": lambda m, pi: services.membership_revoke(membership=m, actor=pi),
    "leave": lambda m, pi: services.membership_leave(membership=m, actor=m.account),
}
ALLOWED = {
    ("approve", "requested"),
    ("reject", "requested"),
    ("withdraw", "requested"),
    ("revoke", "approved"),
    ("leave", "approved"),
}
ILLEGAL = [(s, st) for s in STEPS for st in State.values if (s, st) not in ALLOWED]


@pytest.mark.parametrize(("step", "state"), ILLEGAL)
def test_illegal_transitions_are_refused_with_a_sentence(step, state, pi, outsider, campaign):
    membership = Membership.objects.create(campaign=campaign, account=outsider, state=state)
    with pytest.raises(ValidationError) as caught:
        STEPS[step](membership, pi)
    text = " ".join(caught.value.messages)
    assert f"is {state}, so it cannot be" in text and "Reload the page" in text
    membership.refresh_from_db()
    assert membership.state == state


@pytest.mark.parametrize(("step", "state"), sorted(ALLOWED))
def test_allowed_transitions(step, state, pi, outsider, campaign):
    membership = Membership.objects.create(campaign=campaign, account=outsider, state=state)
    STEPS[step](membership, pi)
    membership.refresh_from_db()
    assert membership.state != state


def test_expired_only_from_approved(member, requester, campaign):
    Membership.objects.filter(account__in=[member, requester]).update(valid_until=days(-1))
    assert services.memberships_expire() == 1
    assert Membership.objects.get(account=member).state == State.EXPIRED
    assert open_membership(campaign, requester).state == State.REQUESTED


# --- who may decide ---------------------------------------------------------------------------


def test_members_and_outsiders_cannot_decide(member, outsider, requester, campaign):
    membership = open_membership(campaign, requester)
    for actor in (member, outsider, requester):
        with pytest.raises(PermissionDenied):
            services.membership_approve(membership=membership, actor=actor)
        with pytest.raises(PermissionDenied):
            services.membership_add(campaign=campaign, account_name="outsider", actor=actor)
    membership.refresh_from_db()
    assert membership.state == State.REQUESTED


def test_nobody_approves_their_own_request_except_an_admin(pi, admin, campaign):
    # The PI's own membership ended (e.g. through SCIM); asking again must go to someone else.
    Membership.objects.filter(campaign=campaign, account=pi).update(state=State.REVOKED)
    own = services.membership_request(campaign=campaign, account=pi)
    with pytest.raises(PermissionDenied, match="cannot approve your own request"):
        services.membership_approve(membership=own, actor=pi)
    admins_own = services.membership_request(campaign=campaign, account=admin)
    services.membership_approve(membership=admins_own, actor=admin)
    admins_own.refresh_from_db()
    assert admins_own.state == State.APPROVED


def test_a_manager_cannot_add_themselves(manager, campaign):
    services.membership_leave(membership=open_membership(campaign, manager), actor=manager)
    with pytest.raises(PermissionDenied):
        services.membership_add(campaign=campaign, account_name="manager", actor=manager)


def test_suspended_manager_loses_rights(manager, requester, campaign):
    Account.objects.filter(pk=manager.pk).update(status=Account.Status.SUSPENDED)
    manager.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.membership_approve(membership=open_membership(campaign, requester), actor=manager)


def test_add_by_name_approves_at_once_and_approves_a_waiting_request(
    manager, requester, outsider, campaign
):
    added = services.membership_add(
        campaign=campaign, account_name=" Outsider ", actor=manager, valid_until=days(30)
    )
    assert (added.state, added.valid_until) == ("approved", days(30))
    waiting = open_membership(campaign, requester)
    services.membership_add(campaign=campaign, account_name="requester", actor=manager)
    waiting.refresh_from_db()
    assert waiting.state == State.APPROVED
    with pytest.raises(ValidationError, match="no account named 'nobody'"):
        services.membership_add(campaign=campaign, account_name="nobody", actor=manager)
    with pytest.raises(ValidationError, match="already a member"):
        services.membership_add(campaign=campaign, account_name="outsider", actor=manager)


def test_add_refuses_suspended_accounts(manager, campaign):
    account_create(name="gone", status=Account.Status.SUSPENDED)
    with pytest.raises(ValidationError, match="suspended"):
        services.membership_add(campaign=campaign, account_name="gone", actor=manager)


def test_valid_until(pi, manager, member, campaign):
    membership = open_membership(campaign, member)
    Membership.objects.filter(pk=membership.pk).update(reminder_14d_sent_at="2020-01-01T00:00Z")
    services.membership_set_valid_until(
        membership=membership, valid_until=days(20), actor=manager, comment="end of project"
    )
    membership.refresh_from_db()
    assert membership.valid_until == days(20) and membership.reminder_14d_sent_at is None
    services.membership_set_valid_until(membership=membership, valid_until=None, actor=manager)
    membership.refresh_from_db()
    assert membership.valid_until is None
    with pytest.raises(ValidationError, match="in the past"):
        services.membership_set_valid_until(
            membership=membership, valid_until=days(-1), actor=manager
        )
    with pytest.raises(ValidationError, match="PI's membership cannot end"):
        services.membership_set_valid_until(
            membership=open_membership(campaign, pi), valid_until=days(3), actor=manager
        )
    event = AuditEvent.objects.filter(action="membership.set_valid_until").last()
    assert event.comment == "end of project" and event.detail["after"] == days(20).isoformat()


def test_managers_are_appointed_and_removed_by_the_pi_only(pi, manager, member, admin, campaign):
    for actor in (manager, admin):
        with pytest.raises(PermissionDenied):
            services.manager_appoint(campaign=campaign, account=member, actor=actor)
    services.manager_appoint(campaign=campaign, account=member, actor=pi, comment="deputy")
    assert open_membership(campaign, member).role == "manager"
    with pytest.raises(ValidationError, match="already the manager"):
        services.manager_appoint(campaign=campaign, account=member, actor=pi)
    services.manager_remove(campaign=campaign, account=member, actor=pi)
    assert open_membership(campaign, member).role == "member"
    with pytest.raises(ValidationError, match="not a manager"):
        services.manager_remove(campaign=campaign, account=member, actor=pi)


def test_appointing_needs_a_member(pi, outsider, campaign):
    with pytest.raises(ValidationError, match="add them as a member first"):
        services.manager_appoint(campaign=campaign, account=outsider, actor=pi)
