"""Emails about memberships, expiry, and reminders that go out exactly once."""

import threading

import pytest
from django.core import mail
from django.db import connection

from accounts.models import Account, AuditEvent
from campaigns import services
from campaigns.models import Membership
from tests.integration.campaigns.conftest import days, open_membership, today


def html_of(message) -> str:
    ((content, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    return content


@pytest.mark.django_db
def test_a_new_request_mails_the_pi_and_managers(
    pi, manager, outsider, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_request(campaign=campaign, account=outsider, message="I am new here")
    (message,) = mail.outbox
    assert sorted(message.to) == ["manager@example.org", "pi@example.org"]
    assert message.subject == "[Gatehouse] outsider asks to join nightsky"
    assert "I am new here" in message.body
    assert "http://127.0.0.1:8000/campaigns/nightsky/manage/" in message.body
    assert 'href="http://127.0.0.1:8000/campaigns/nightsky/manage/"' in html_of(message)


@pytest.mark.django_db
def test_decisions_mail_the_requester(
    pi, outsider, requester, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_approve(
            membership=open_membership(campaign, requester), actor=pi, valid_until=days(30)
        )
    approved = mail.outbox[-1]
    assert approved.to == ["requester@example.org"]
    assert approved.subject == "[Gatehouse] You are now a member of nightsky"
    assert f"lasts until {days(30):%Y-%m-%d}" in approved.body
    request = services.membership_request(campaign=campaign, account=outsider)
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_reject(membership=request, actor=pi, reason="Wrong <project>.")
    rejected = mail.outbox[-1]
    assert rejected.subject == "[Gatehouse] Your request to join nightsky was rejected"
    assert "Wrong <project>." in rejected.body  # plain text is not HTML-escaped
    assert "Wrong &lt;project&gt;." in html_of(rejected)


@pytest.mark.django_db
def test_no_mail_when_the_change_is_rolled_back(pi, requester, campaign):
    # Without the commit (the test transaction never commits) nothing may be sent.
    services.membership_approve(membership=open_membership(campaign, requester), actor=pi)
    assert mail.outbox == []


@pytest.mark.django_db
def test_expiry_moves_past_memberships_and_audits(member, manager, campaign):
    services.membership_set_valid_until(
        membership=open_membership(campaign, member), valid_until=today(), actor=None
    )
    assert services.memberships_expire() == 0  # the last day still counts
    assert services.memberships_expire(today=days(1)) == 1
    membership = Membership.objects.get(account=member)
    assert membership.state == "expired"
    event = AuditEvent.objects.get(action="membership.expire")
    assert event.account == member and event.actor is None
    assert event.comment == f"valid until {today():%Y-%m-%d}"
    assert services.memberships_expire(today=days(1)) == 0


def set_end(membership: Membership, day) -> None:
    Membership.objects.filter(pk=membership.pk).update(valid_until=day)


@pytest.mark.django_db
def test_reminders_14_days_and_1_day_before_each_once(
    member, manager, campaign, django_capture_on_commit_callbacks
):
    set_end(open_membership(campaign, member), days(14))
    set_end(open_membership(campaign, manager), days(40))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.membership_reminders_send() == 1
        assert services.membership_reminders_send() == 0
    (first,) = mail.outbox
    assert first.to == ["member@example.org"]
    assert first.subject == "[Gatehouse] Your membership of nightsky ends in 14 days"
    assert "ask the PI, Pi (pi@example.org)" in first.body
    with django_capture_on_commit_callbacks(execute=True):
        assert services.membership_reminders_send(today=days(5)) == 0  # 9 days left: sent already
        assert services.membership_reminders_send(today=days(13)) == 1
        assert services.membership_reminders_send(today=days(14)) == 0
    assert mail.outbox[-1].subject == "[Gatehouse] Your membership of nightsky ends tomorrow"
    assert len(mail.outbox) == 2
    membership = Membership.objects.get(account=member)
    assert membership.reminder_14d_sent_at and membership.reminder_1d_sent_at


@pytest.mark.django_db
def test_a_late_end_date_gets_only_the_reminders_still_due(
    member, campaign, django_capture_on_commit_callbacks
):
    set_end(open_membership(campaign, member), days(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.membership_reminders_send() == 1
    assert mail.outbox[0].subject.endswith("ends tomorrow")
    assert Membership.objects.get(account=member).reminder_14d_sent_at is None


@pytest.mark.django_db
def test_no_reminders_for_suspended_accounts_or_ended_memberships(member, manager, campaign):
    set_end(open_membership(campaign, member), days(3))
    set_end(open_membership(campaign, manager), days(3))
    Account.objects.filter(pk=member.pk).update(status=Account.Status.SUSPENDED)
    Membership.objects.filter(account=manager).update(state="revoked")
    assert services.membership_reminders_send() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_reminder_once(admin, pi):
    campaign = services.campaign_create(slug="race", title="Race", pi=pi, actor=admin)
    people = [Account.objects.create_user(f"racer{i}", f"racer{i}@example.org") for i in range(8)]
    for person in people:
        services.membership_add(
            campaign=campaign, account_name=person.name, actor=admin, valid_until=days(10)
        )
    mail.outbox.clear()
    start = threading.Barrier(3)
    sent = []

    def run():
        start.wait()
        try:
            sent.append(services.membership_reminders_send())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(sent) == 8
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in people)


def test_error_reports_to_admins_take_the_one_mail_path(settings, rf):
    """Django's error mail (AdminEmailHandler) is queued like every other mail, not sent by
    the failing request; here the queue is delivered in-process (see tests/conftest.py)."""
    import logging

    from accounts.mail import AdminMailHandler

    settings.ADMINS = ["ops@example.org"]
    (handler,) = logging.getLogger("django").handlers
    assert isinstance(handler, AdminMailHandler)
    handler._sent.clear()  # the throttle is per process: forget earlier tests' reports
    for _ in range(3):  # the same error three times: one mail (at most one a kind per 10 min)
        try:
            raise RuntimeError("the database fell over")
        except RuntimeError:
            logging.getLogger("django.request").exception(
                "Internal Server Error: /x/", extra={"request": rf.get("/x/"), "status_code": 500}
            )
    (report,) = mail.outbox
    assert report.to == ["ops@example.org"] and "Internal Server Error: /x/" in report.subject
    assert "the database fell over" in report.body


@pytest.mark.django_db
def test_a_manager_who_leaves_is_left_not_revoked_loses_the_role_and_the_pi_is_told(
    pi, manager, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_leave(
            membership=open_membership(campaign, manager), actor=manager, comment="New job."
        )
    left = Membership.objects.get(campaign=campaign, account=manager)
    assert (left.state, left.role) == ("left", "member")
    actions = list(
        AuditEvent.objects.filter(account=manager).order_by("pk").values_list("action", flat=True)
    )
    assert actions[-2:] == ["membership.remove_manager", "membership.leave"]
    (message,) = mail.outbox
    assert message.to == ["pi@example.org"]
    assert message.subject == "[Gatehouse] manager left nightsky"
    assert "They were a manager; that role ended" in message.body
    assert "New job." in message.body and "New job." in html_of(message)
