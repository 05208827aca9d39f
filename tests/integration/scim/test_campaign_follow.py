"""IdP groups -> campaign memberships after a SCIM sync: the membership state machine's steps,
with their audit events and mails, whichever way the sync was started."""

import pytest
from django.core import mail
from django.core.management import call_command

from accounts.models import Account, AuditEvent, IdpGroup, SyncRun
from accounts.scim.sync import scim_sync
from accounts.signals import scim_sync_finished
from campaigns import services
from campaigns.models import Campaign, Membership

from .conftest import add_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(provider, directory, pi, settings):
    """IAM group "astro/prod" with anna and bert, linked to campaign "prod"; carl outside it."""
    settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT = 100
    people = {name: add_person(directory, name) for name in ("anna", "bert", "carl")}
    group = directory.add_group("prod", parent=directory.add_group("astro"))
    directory.add_member(group.id, people["anna"].id)
    directory.add_member(group.id, people["bert"].id)
    assert scim_sync(provider=provider).outcome == SyncRun.Outcome.SUCCESS
    campaign = services.campaign_create(
        slug="prod", title="Production", pi=pi, actor=None, data_paths=["/data/prod"]
    )
    Campaign.objects.filter(pk=campaign.pk).update(idp_group=IdpGroup.objects.get(scim_id=group.id))
    return campaign, group, people


def state_of(campaign, name: str) -> tuple[str, str]:
    row = Membership.objects.filter(campaign=campaign, account__name=name).latest("created")
    return row.state, row.source


@pytest.mark.sqlite
def test_group_members_join_and_leave_through_the_state_machine(
    linked, provider, directory, pi, django_capture_on_commit_callbacks
):
    campaign, group, people = linked
    bert = Account.objects.get(name="bert")
    carl = Account.objects.get(name="carl")
    services.membership_request(campaign=campaign, account=bert, message="please")
    services.membership_add(campaign=campaign, account_name="carl", actor=pi)
    mail.outbox.clear()
    AuditEvent.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        run = scim_sync(provider=provider)

    assert run.counts["campaign_members_added"] == 2 and run.error == ""
    assert state_of(campaign, "anna") == ("approved", "scim")
    assert state_of(campaign, "bert") == ("approved", "scim")  # their request was approved
    assert state_of(campaign, "carl") == ("approved", "portal")  # added by the PI: untouched
    events = {
        (e.action, e.account.name): e
        for e in AuditEvent.objects.filter(action__startswith="membership.")
    }
    assert set(events) == {("membership.add", "anna"), ("membership.approve", "bert")}
    anna_added = events["membership.add", "anna"]
    assert anna_added.actor is None and anna_added.target == "campaign:prod"
    assert anna_added.comment == "Member of IAM group astro/prod."
    assert anna_added.detail["state"] == "approved"
    assert sorted(m.to[0] for m in mail.outbox) == ["anna@example.org", "bert@example.org"]
    assert {m.subject for m in mail.outbox} == {"[Gatehouse] You are now a member of prod"}
    assert "Member of IAM group astro/prod." in mail.outbox[0].body

    directory.remove_member(group.id, people["anna"].id)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run = scim_sync(provider=provider)
    assert run.counts["campaign_members_revoked"] == 1
    assert state_of(campaign, "anna") == ("revoked", "scim")
    revoke = AuditEvent.objects.get(action="membership.revoke")
    assert revoke.account.name == "anna" and revoke.comment == "No longer in IAM group astro/prod."
    assert mail.outbox == []  # like a manager's removal: no mail
    assert carl.memberships.get(campaign=campaign).state == "approved"


def test_a_suspended_account_loses_the_membership_and_an_archived_campaign_is_left_alone(
    linked, provider, directory, pi
):
    campaign, group, people = linked
    scim_sync(provider=provider)
    assert state_of(campaign, "bert") == ("approved", "scim")
    directory.update_user(people["bert"].id, active=False)
    run = scim_sync(provider=provider)
    assert Account.objects.get(name="bert").status == Account.Status.SUSPENDED
    assert run.counts["campaign_members_revoked"] == 1
    assert state_of(campaign, "bert") == ("revoked", "scim")
    services.campaign_archive(campaign=campaign, actor=None)
    directory.update_user(people["bert"].id, active=True)
    run = scim_sync(provider=provider)
    assert run.counts["campaign_members_added"] == 0
    assert state_of(campaign, "bert") == ("revoked", "scim")


def test_the_command_runs_the_follow_up(linked, provider):
    campaign, _, _ = linked
    call_command("scim_sync", "--idp", "iam", verbosity=0)
    assert state_of(campaign, "anna") == ("approved", "scim")


def test_a_failing_follow_up_leaves_the_people_sync_done_and_says_so(linked, provider):
    def broken(sender, **kwargs):
        raise RuntimeError("the campaigns table is locked")

    scim_sync_finished.connect(broken, dispatch_uid="test.broken")
    try:
        run = scim_sync(provider=provider)
    finally:
        scim_sync_finished.disconnect(dispatch_uid="test.broken")
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCESS
    assert "following them up failed (RuntimeError: the campaigns table is locked)" in run.error
    assert run.counts["campaign_members_added"] == 2  # the other follower still ran
