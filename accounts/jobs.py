"""Background work shared by every app: retries, one run per schedule slot, queueing that
says when the broker is away, and run records whose worker died.

A beat may be started twice by mistake (a second node), a worker may die mid-task and Redis may
be away for a while. Scheduled tasks therefore claim their slot in the database, retry
transient database errors with backoff, and long runs leave a heartbeat so that a run whose
worker died is marked failed within minutes.
"""

import logging
from datetime import timedelta

from celery import Task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from accounts.models import ScheduledJob, SyncRun

log = logging.getLogger(__name__)

# Transient: the database restarted, failed over, or a connection broke mid-query.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)

# Options for every scheduled task: retry transient errors for about ten minutes, spread out.
SCHEDULED_TASK = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 10,
    "ignore_result": True,
}


def scheduled_run_claim(*, job: str, every: timedelta) -> bool:
    """True if `job` may run now: it has not run yet in this interval of the wall clock.

    Intervals are counted from 1970, so two beats (whatever their phase) that send the same
    job within one interval claim the same slot, and one conditional UPDATE lets exactly one
    of them run it.
    """
    now = timezone.now()
    slot = int(now.timestamp() // every.total_seconds())
    ScheduledJob.objects.get_or_create(name=job)
    claimed = ScheduledJob.objects.filter(
        Q(last_slot__isnull=True) | Q(last_slot__lt=slot), name=job
    ).update(last_slot=slot, last_started=now, runs=F("runs") + 1)
    if not claimed:
        ScheduledJob.objects.filter(name=job).update(skipped=F("skipped") + 1)
        log.info("%s: already ran in this interval (another beat?); skipped.", job)
    return bool(claimed)


def enqueue(task: Task, *args, kwargs: dict | None = None, **options) -> bool:
    """Queue `task`; False (and a log line) when the broker cannot be reached."""
    try:
        task.apply_async(args, kwargs, **options)
    except BrokerUnavailable as exc:
        log.warning("Could not queue %s: the broker is unreachable (%s).", task.name, exc)
        return False
    return True


def sync_run_heartbeat(run: SyncRun) -> None:
    """Tell the reaper this run's worker is alive (called as the run makes progress)."""
    now = timezone.now()
    if (now - run.heartbeat).total_seconds() < 5:
        return
    run.heartbeat = now
    try:
        SyncRun.objects.filter(pk=run.pk).update(heartbeat=now)
    except DatabaseError:  # never let bookkeeping break the run itself
        log.warning("sync run %s: heartbeat not written", run.pk)


def sync_runs_reap() -> int:
    """Mark failed the runs still 'running' whose worker stopped beating; returns how many."""
    seconds = settings.GATEHOUSE_SYNC_RUN_STALE_SECONDS
    stale = timezone.now() - timedelta(seconds=seconds)
    silence = f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"
    return SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING, heartbeat__lt=stale).update(
        outcome=SyncRun.Outcome.FAILED,
        finished=timezone.now(),
        error=f"The worker running this sync stopped (no sign of life for {silence}); the next "
        "run starts afresh.",
    )
