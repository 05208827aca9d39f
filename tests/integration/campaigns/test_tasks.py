"""The beat tasks, run by the real Celery worker against the test database."""

import re
import time

import pytest

from accounts.services import account_create
from campaigns import services, tasks
from campaigns.models import Membership
from tests.integration.campaigns.conftest import days

DONE = re.compile(r"membership_reminders_send\[[0-9a-f-]+\] succeeded in [0-9.]+s: (\d+)")
pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def wait_for(condition, worker, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out; worker log:\n{worker.log()[-3000:]}")


@pytest.fixture
def memberships(admin, pi):
    campaign = services.campaign_create(slug="tasks", title="Tasks", pi=pi, actor=admin)
    ending = account_create(name="ending", email="ending@example.org")
    soon = account_create(name="soon", email="soon@example.org")
    services.membership_add(campaign=campaign, account_name="ending", actor=admin)
    services.membership_add(
        campaign=campaign, account_name="soon", actor=admin, valid_until=days(14)
    )
    # valid_until in the past cannot be set through the service (it refuses past dates).
    Membership.objects.filter(account=ending).update(valid_until=days(-1))
    return ending, soon


def test_worker_expires_memberships(celery_worker, memberships):
    ending, _ = memberships
    tasks.memberships_expire.delay()
    wait_for(
        lambda: Membership.objects.filter(account=ending, state="expired").exists(), celery_worker
    )


def test_worker_sends_each_reminder_once(celery_worker, memberships):
    _, soon = memberships
    before = len(celery_worker.log())  # the worker lives for the whole session
    tasks.membership_reminders_send.delay()
    tasks.membership_reminders_send.delay()

    def results() -> list[int]:
        found = DONE.findall(celery_worker.log()[before:])
        return sorted(int(n) for n in found) if len(found) == 2 else []

    # Two runs, possibly at the same time (two worker threads): one sends, the other finds
    # the reminder claimed already.
    assert wait_for(results, celery_worker) == [0, 1]
    assert Membership.objects.get(account=soon).reminder_14d_sent_at is not None
    # The worker's mail backend is the console: the message is in its log exactly once (the
    # reminder run queues the mail; the worker delivers it as a task of its own).
    subject = "Subject: [Gatehouse] Your membership of tasks ends in 14 days"
    wait_for(lambda: subject in celery_worker.log()[before:], celery_worker)
    assert celery_worker.log()[before:].count(subject) == 1


def test_mail_of_a_web_request_is_delivered_by_the_worker_not_the_request(
    celery_worker, memberships, pi, client
):
    from django.core import mail
    from django.urls import reverse

    asker = account_create(name="asker", email="asker@example.org")
    client.force_login(asker)
    before = len(celery_worker.log())
    response = client.post(reverse("campaigns:request", args=["tasks"]), {"message": "hi"})
    assert response.status_code in (200, 302)
    assert mail.outbox == []  # the request only queued it
    subject = "Subject: [Gatehouse] asker asks to join tasks"
    wait_for(lambda: subject in celery_worker.log()[before:], celery_worker)
    assert "To: pi@example.org" in celery_worker.log()[before:]


def test_no_mail_is_queued_for_a_change_that_rolls_back(celery_worker, memberships):
    from django.db import transaction

    campaign = services.campaign_create(slug="rollback", title="R", pi=memberships[0], actor=None)
    quiet = account_create(name="quiet", email="quiet@example.org")
    loud = account_create(name="loud", email="loud@example.org")
    before = len(celery_worker.log())
    with transaction.atomic():
        services.membership_request(campaign=campaign, account=quiet)
        transaction.set_rollback(True)
    services.membership_request(campaign=campaign, account=loud)
    wait_for(lambda: "loud asks to join rollback" in celery_worker.log()[before:], celery_worker)
    # The rolled-back request never reached on_commit, so no task for it was ever queued.
    assert "quiet asks to join rollback" not in celery_worker.log()[before:]
