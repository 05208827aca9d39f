"""SCIM sync of one provider: read IAM completely, then change Gatehouse in one transaction.

A run holds a per-provider lock for its whole length (a PostgreSQL session advisory lock,
released by PostgreSQL if the worker dies); a second run finds it taken and stops with
SyncBusy. Every run that gets the lock leaves a SyncRun row with its counts and outcome.
After a run that changed the database, `accounts.signals.scim_sync_finished` lets the apps
above (campaigns: IdP groups -> memberships) follow, still under the lock.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.idps import IdentityProvider, ProviderUnavailable, discovery
from accounts.jobs import sync_run_heartbeat
from accounts.models import Identity, IdpGroup, SyncRun
from accounts.scim.apply import plan_apply
from accounts.scim.client import ClientCredentials, IamScimReader, RetryPolicy, ScimReadError
from accounts.scim.plan import OIDC, Plan, Snapshot, plan_changes
from accounts.scim.staging import StagingMemo, scim_id_from_identity
from accounts.services import audit_record
from accounts.signals import scim_groups_followed, scim_sync_finished

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (what, done, total)
_local_locks: dict[str, threading.Lock] = {}


class SyncBusy(Exception):
    """Another run for this provider holds the lock."""


class SyncNotConfigured(Exception):
    """The provider cannot be synced as configured; the sentence says what to fix."""


def scim_base_url(provider: IdentityProvider) -> str:
    return provider.scim_base_url or provider.issuer.rstrip("/") + "/scim"


def scim_providers() -> list[str]:
    return list(settings.GATEHOUSE_SCIM_IDPS)


@contextmanager
def sync_lock(nickname: str) -> Iterator[bool]:
    """True if this run may go ahead; the lock is freed at the end or when the process dies."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"gatehouse-scim:{nickname}".encode()).digest()[:8], "big", signed=True
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
                except DatabaseError:  # the connection is gone, and the lock with it
                    log.warning("SCIM sync lock for %s: connection lost before unlock", nickname)
        return
    # SQLite (`make run`): one process, so a process lock is enough.
    lock = _local_locks.setdefault(nickname, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


def scim_sync(
    *,
    provider: IdentityProvider,
    dry_run: bool = False,
    force: bool = False,
    triggered_by: str = "command",
    progress: Progress | None = None,
) -> SyncRun:
    """Run one sync; returns its SyncRun. Raises SyncBusy if another run holds the lock."""
    if provider.nickname not in scim_providers():
        raise SyncNotConfigured(
            f"SCIM sync of {provider.nickname!r} is not configured: add it to "
            "GATEHOUSE_SCIM_IDPS (only providers listed there are synced)."
        )
    if not provider.scim_client_id or not provider.scim_client_secret:
        raise SyncNotConfigured(
            f"Provider {provider.nickname!r} has no SCIM client_id/client_secret in "
            "idpsecrets.json: add them, or remove it from GATEHOUSE_SCIM_IDPS."
        )
    with sync_lock(provider.nickname) as acquired:
        if not acquired:
            raise SyncBusy(
                f"Another SCIM sync of {provider.nickname} is running; this one did nothing. "
                "Wait for it to finish (see the sync history)."
            )
        _close_dead_runs(provider.nickname)
        run = SyncRun.objects.create(idp=provider.nickname, triggered_by=triggered_by, forced=force)
        try:
            started = time.monotonic()
            snapshot = read_provider(provider, progress=_beating(run, progress))
            snapshot.read_stats["seconds_read"] = round(time.monotonic() - started, 1)
            with transaction.atomic():
                started = time.monotonic()
                gc.freeze()  # the snapshot's 100,000s of objects need no collecting meanwhile
                try:
                    plan = plan_changes(provider, snapshot, now=timezone.now())
                finally:
                    gc.unfreeze()
                snapshot.read_stats["seconds_plan"] = round(time.monotonic() - started, 1)
                _finish(run, plan, snapshot, dry_run=dry_run, force=force)
        except (ScimReadError, ProviderUnavailable) as exc:
            _fail(run, str(exc))
        except Exception as exc:
            _fail(run, f"The run stopped on an unexpected error ({type(exc).__name__}: {exc}).")
            raise
        if run.outcome == SyncRun.Outcome.SUCCESS:
            _tell_followers(run)
        return run


def _tell_followers(run: SyncRun) -> None:
    """The apps above follow the committed run; their counts join the run's record.

    A follower's failure leaves the people sync done: it is logged and written on the run,
    and the next run tries again.
    """
    failures = []
    for receiver, answer in scim_sync_finished.send_robust(sender=SyncRun, idp=run.idp, run=run):
        if isinstance(answer, Exception):
            log.error("after the SCIM sync of %s, %r failed", run.idp, receiver, exc_info=answer)
            failures.append(f"{type(answer).__name__}: {answer}")
        elif isinstance(answer, dict):
            run.counts.update(answer)
    if failures:
        run.error = (
            "People and groups were synced, but following them up failed "
            f"({'; '.join(failures)}); the next run tries again."
        )
    run.save(update_fields=["counts", "error"])


def _finish(run: SyncRun, plan: Plan, snapshot: Snapshot, *, dry_run: bool, force: bool) -> None:
    counts = {**plan.counts(), **snapshot.read_stats}
    percent = settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT
    run.counts = counts
    run.finished = timezone.now()
    if dry_run:
        run.outcome = SyncRun.Outcome.DRY_RUN
        run.counts = {**counts, "would": plan.describe()}
    elif plan.failsafe_tripped(percent) and not force:
        run.outcome = SyncRun.Outcome.HALTED
        share = 100 * plan.suspensions / plan.synced_active
        run.error = (
            f"This run would suspend {plan.suspensions} of {plan.synced_active} synced accounts "
            f"({share:.0f}%), more than the failsafe allows ({percent}%). Nothing was changed. "
            f"If IAM really lost these users, run `python manage.py scim_sync --idp "
            f'{plan.provider.nickname} --force` (or use "Run now, forced" on the sync page).'
        )
    else:
        started = time.monotonic()
        plan_apply(plan)
        run.counts["seconds_apply"] = round(time.monotonic() - started, 1)
        run.outcome = SyncRun.Outcome.SUCCESS
        if plan.conflicts or plan.problems:
            run.counts["report"] = plan.describe()
        audit_record(
            action="scim.sync",
            target=f"idp:{plan.provider.nickname}",
            detail={k: v for k, v in counts.items() if isinstance(v, int)},
            comment=f"run {run.pk}" + (" (forced)" if force else ""),
        )
    run.save()


def _beating(run: SyncRun, progress: Progress | None) -> Progress:
    """`progress`, plus a heartbeat so a run whose worker dies is marked failed in minutes."""

    def report(what: str, done: int, total: int) -> None:
        sync_run_heartbeat(run)
        if progress:
            progress(what, done, total)

    return report


def _fail(run: SyncRun, error: str) -> None:
    log.warning("SCIM sync of %s failed: %s", run.idp, error)
    run.outcome = SyncRun.Outcome.FAILED
    run.error = error
    run.finished = timezone.now()
    run.save(update_fields=["outcome", "error", "finished"])


def _close_dead_runs(nickname: str) -> None:
    """Runs still 'running' while we hold the lock died with their worker."""
    SyncRun.objects.filter(idp=nickname, outcome=SyncRun.Outcome.RUNNING).update(
        outcome=SyncRun.Outcome.FAILED,
        finished=timezone.now(),
        error="This run stopped without finishing (its worker died); the lock is free again.",
    )


def read_provider(provider: IdentityProvider, *, progress: Progress | None = None) -> Snapshot:
    """Everything the sync needs from IAM, read completely, or ScimReadError."""
    document = discovery(provider)
    token_endpoint = document.get("token_endpoint")
    if not token_endpoint:
        raise ScimReadError(f"{provider.label}'s discovery document names no token_endpoint.")
    credentials = ClientCredentials(
        token_endpoint=token_endpoint,
        client_id=provider.scim_client_id,
        client_secret=provider.scim_client_secret,
        scope=provider.scim_scope,
        timeout=settings.GATEHOUSE_SCIM_TIMEOUT,
        auth_methods=document.get("token_endpoint_auth_methods_supported"),
    )
    retry = RetryPolicy(
        attempts=settings.GATEHOUSE_SCIM_ATTEMPTS,
        backoff=settings.GATEHOUSE_SCIM_BACKOFF_MS / 1000,
    )
    known = {
        scim_id
        for identity in Identity.objects.filter(
            type=OIDC, identity__endswith=f", ISS={provider.issuer}"
        ).values_list("identity", flat=True)
        if (scim_id := scim_id_from_identity(identity, provider.issuer))
    }
    followed = followed_groups(provider.nickname)
    now = datetime.now(UTC)
    with IamScimReader(
        base_url=scim_base_url(provider),
        credentials=credentials,
        timeout=settings.GATEHOUSE_SCIM_TIMEOUT,
        retry=retry,
        max_passes=settings.GATEHOUSE_SCIM_MAX_PASSES,
        workers=settings.GATEHOUSE_SCIM_WORKERS,
    ) as reader:
        report = (lambda done, total: progress("users", done, total)) if progress else None
        memo = StagingMemo(provider.nickname, now=now)
        users = {
            staged.scim_id: staged
            for staged in reader.users(known_ids=known, progress=report, parse=memo.stage)
        }
        groups = {g.id: g.display_name or g.id for g in reader.groups()}
        members = {}
        for n, group_id in enumerate(sorted(followed & groups.keys()), 1):
            members[group_id] = reader.member_ids(group_id)
            if progress:
                progress("group members", n, len(followed))
        memo.keep()
        stats = {**reader.stats.as_dict(), "unchanged_users": memo.hits}
        return Snapshot(
            users=users, groups=groups, members=members, followed=followed, read_stats=stats
        )


def followed_groups(nickname: str) -> set[str]:
    """SCIM ids of this provider's groups that an app above follows (scim_groups_followed)."""
    followed: set[str] = set()
    for _, scim_ids in scim_groups_followed.send(sender=IdpGroup, idp=nickname):
        followed.update(scim_ids or ())
    return followed
