"""Two Celery workers on one Redis broker and one PostgreSQL, fed by the real beat schedule:
each scheduled job runs once, and a job sent twice (a second beat started by mistake, a message
delivered again after a worker died) still does its work once.

The schedule is driven deterministically: a tick sends the entries of the real
CELERY_BEAT_SCHEDULE with their options, as `celery beat` does when they are due (their
intervals are minutes to a day). The workers are real processes on a Redis database of their
own, so the session's worker (tests/conftest.py) takes none of these tasks.
"""

import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts import crypto
from accounts.models import Account, AuditEvent, IdpGroup, SyncRun
from campaigns import services
from campaigns.models import Membership
from tests.harness.celery_worker import start_worker
from tokens.models import Token
from webui.celery import app

from .conftest import NICK, add_person

pytestmark = [pytest.mark.celery, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCIM, REMINDERS, CLEANUP = "scim-sync", "campaigns-membership-reminders", "token-cleanup"
TASKS = {
    "scim_all": "accounts.tasks.scim_sync_all",
    "scim": "accounts.tasks.scim_sync_provider",
    "reminders": "campaigns.tasks.membership_reminders_send",
    "cleanup": "tokens.tasks.tokens_cleanup_expired",
}


@pytest.fixture
def broker_url() -> str:
    return settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/7"


@pytest.fixture
def two_workers(provider, tmp_path, broker_url):
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        "CELERY_BROKER_URL": broker_url,
        "GATEHOUSE_IDPSECRETS": settings.GATEHOUSE_IDPSECRETS,
        "GATEHOUSE_SCIM_IDPS": NICK,
        "GATEHOUSE_SCIM_BACKOFF_MS": "10",
    }
    with app.connection_for_write(broker_url) as conn:
        conn.default_channel.client.flushdb()  # nothing left from an earlier run
    workers = []
    try:
        for name in ("node-a", "node-b"):
            workers.append(
                start_worker(
                    database_url=url,
                    logfile=tmp_path / f"{name}.log",
                    concurrency=2,
                    extra_env=env,
                    name=name,
                )
            )
        yield workers
    finally:
        for worker in workers:
            worker.stop()


def tick(broker_url: str, *entries: str) -> None:
    """What beat does when these entries are due: send each entry's task with its options."""
    with app.connection_for_write(broker_url) as conn:
        for name in entries:
            entry = settings.CELERY_BEAT_SCHEDULE[name]
            app.send_task(entry["task"], connection=conn, **entry.get("options", {}))


def succeeded(workers, task: str) -> int:
    pattern = re.compile(rf"Task {re.escape(task)}\[[0-9a-f-]+\] succeeded")
    return sum(len(pattern.findall(worker.log())) for worker in workers)


def wait_for(workers, expected: dict[str, int]) -> None:
    """Until each task has succeeded as often as expected; fails with the logs if one broke."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if all(succeeded(workers, TASKS[key]) >= n for key, n in expected.items()):
            return
        if any("raised unexpected" in w.log() or w.proc.poll() is not None for w in workers):
            break
        time.sleep(0.2)
    logs = "\n\n".join(w.log()[-4000:] for w in workers)
    pytest.fail(f"the workers did not finish {expected}:\n{logs}")


def cleaned(workers) -> list[int]:
    """Tokens each clean-up run deleted, from the task's log line."""
    found = (re.findall(r"token clean-up: \{'tokens': (\d+)", w.log()) for w in workers)
    return sorted(int(n) for lines in found for n in lines)


def reminders(workers) -> list[str]:
    """Membership ids whose reminder was sent, as often as it was sent."""
    found = (
        re.findall(r"membership reminder \w+ sent for membership (\d+)", w.log()) for w in workers
    )
    return sorted(pk for lines in found for pk in lines)


def expired_tokens(account: Account, first: int, count: int) -> None:
    past = timezone.now() - timedelta(hours=1)
    Token.objects.bulk_create(
        Token(
            account=account,
            idp="dev",
            token_hash=crypto.token_hash(f"several-nodes-{n}"),
            token=f"t{n}",
            expires_at=past,
        )
        for n in range(first, first + count)
    )


def ending_in(campaign, account: Account, days: int) -> Membership:
    return services.membership_add(
        campaign=campaign,
        account_name=account.name,
        actor=None,
        valid_until=timezone.localdate() + timedelta(days=days),
    )


def test_each_scheduled_job_runs_once_on_two_workers(
    two_workers, broker_url, directory, pi, member, outsider, requester
):
    anna, _, _ = (add_person(directory, name) for name in ("anna", "bert", "carl"))
    group = directory.add_group("nightsky")
    directory.add_member(group.id, anna.id)
    campaign = services.campaign_create(slug="nightsky", title="Night sky", pi=pi, actor=None)
    campaign.idp_group = IdpGroup.objects.create(idp=NICK, scim_id=group.id, name="nightsky")
    campaign.save(update_fields=["idp_group"])  # its members follow the group after each sync
    due = [ending_in(campaign, member, 1), ending_in(campaign, outsider, 10)]
    ending_in(campaign, requester, 40)  # not due
    expired_tokens(pi, 0, 500)
    assert all(f"{w.hostname} ready." in w.log() for w in two_workers)

    # One tick of the schedule: each job once, whichever worker takes it.
    tick(broker_url, SCIM, REMINDERS, CLEANUP)
    wait_for(two_workers, {"scim_all": 1, "scim": 1, "reminders": 1, "cleanup": 1})
    (run,) = SyncRun.objects.all()
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.triggered_by == "beat"
    assert run.counts["created"] == 3
    assert Account.objects.filter(name__in=["anna", "bert", "carl"]).count() == 3
    assert run.counts["campaign_members_added"] == 1
    (joined,) = AuditEvent.objects.filter(action="membership.add", account__name="anna")
    assert joined.comment == "Member of IAM group nightsky."
    assert reminders(two_workers) == sorted(str(m.pk) for m in due)
    assert cleaned(two_workers) == [500] and not Token.objects.exists()

    # A duplicate tick (two beats, or a message delivered again): the work still happens once.
    Membership.objects.filter(account=requester, campaign=campaign).update(
        valid_until=timezone.localdate() + timedelta(days=2)
    )
    expired_tokens(pi, 1000, 3000)
    tick(broker_url, REMINDERS, CLEANUP, REMINDERS, CLEANUP)
    wait_for(two_workers, {"reminders": 3, "cleanup": 3})
    third = Membership.objects.get(account=requester, campaign=campaign)
    assert reminders(two_workers) == sorted([*(str(m.pk) for m in due), str(third.pk)])
    assert sum(cleaned(two_workers)) == 3500 and not Token.objects.exists()
    assert SyncRun.objects.count() == 1
