"""Celery tasks for accounts: thin wrappers that load what they need and call a service."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from accounts.idps import get_provider
from accounts.jobs import SCHEDULED_TASK, enqueue, scheduled_run_claim, sync_runs_reap
from accounts.mail import mail_deliver  # noqa: F401  (the mail task, registered with the rest)
from accounts.rucio.sync import RucioNotConfigured, rucio_sync
from accounts.scim.sync import SyncBusy, SyncNotConfigured, scim_providers, scim_sync

log = logging.getLogger(__name__)


@shared_task(**SCHEDULED_TASK)
def scim_sync_all(beat: bool = False) -> None:
    """Beat entry point: queue one sync per configured provider (once per interval)."""
    every = timedelta(minutes=settings.GATEHOUSE_SCIM_INTERVAL_MINUTES)
    if beat and not scheduled_run_claim(job="scim-sync", every=every):
        return
    for nickname in scim_providers():
        enqueue(scim_sync_provider, nickname, queue=settings.GATEHOUSE_SCIM_QUEUE)


@shared_task(**SCHEDULED_TASK)
def sync_runs_reap_stale() -> None:
    """Runs whose worker died are marked failed within minutes, not at the next run."""
    if reaped := sync_runs_reap():
        log.warning("Marked %d sync run(s) failed: their worker stopped.", reaped)


@shared_task(**SCHEDULED_TASK)
def scim_sync_provider(nickname: str, force: bool = False, triggered_by: str = "beat") -> None:
    provider = get_provider(nickname)
    if provider is None:
        log.error("SCIM sync: no provider %r in idpsecrets.json; nothing to do.", nickname)
        return
    try:
        run = scim_sync(provider=provider, force=force, triggered_by=triggered_by)
    except (SyncBusy, SyncNotConfigured) as exc:
        log.warning("SCIM sync of %s not run: %s", nickname, exc)
        return
    log.info("SCIM sync of %s: %s %s", nickname, run.outcome, run.counts)


@shared_task(**SCHEDULED_TASK)
def rucio_sync_task(
    force: bool = False, account: str | None = None, triggered_by: str = "beat", beat: bool = False
) -> None:
    """Beat entry point (and "sync now"): one Rucio reconcile run, or one account's."""
    every = timedelta(minutes=settings.GATEHOUSE_RUCIO_INTERVAL_MINUTES)
    if beat and not scheduled_run_claim(job="rucio-sync", every=every):
        return
    try:
        run = rucio_sync(force=force, only=account, triggered_by=triggered_by)
    except (SyncBusy, RucioNotConfigured) as exc:
        log.warning("Rucio sync not run: %s", exc)
        return
    log.info("Rucio sync: %s %s", run.outcome, run.counts)
