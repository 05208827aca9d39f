"""The Rucio reconcile: make Rucio hold the accounts and identities Gatehouse decided on.

For every USER account Gatehouse has: an ACTIVE one exists in Rucio with the same name, type
and e-mail and exactly Gatehouse's OIDC and X.509 identities (other identity types on the
Rucio account are left alone); a suspended or deleted one is SUSPENDED in Rucio (never deleted,
which Rucio cannot undo), and made ACTIVE again when Gatehouse reactivates it.

Gatehouse only changes Rucio accounts it created or an admin adopted: they carry the account
attribute ``gatehouse=owned`` (client.OWNER_KEY). Any other Rucio account of the same name is
reported in the run, never changed.

A run reads Rucio in two streamed requests (ACTIVE accounts, and those marked as owned), then
compares each account with its ledger (RucioAccountState, what the last run made true): an
account whose wanted state equals its ledger and Rucio's listing costs no request, so a run
that changes nothing makes O(1) requests, not O(accounts). Accounts that differ are read and
written one by one with "make it so" calls, and their ledger row is written only after all of
their calls succeeded, so a run that stops half-way leaves no record claiming more than Rucio
holds and is safe to repeat. ``verify`` re-reads every owned account's identities from Rucio,
to find changes made in Rucio by hand.

Runs hold a PostgreSQL advisory lock (accounts.scim.sync.sync_lock) so two never interleave;
the failsafe refuses to suspend more than GATEHOUSE_RUCIO_FAILSAFE_PERCENT of the owned active
accounts in one run without ``force``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.dn import dn_for_storage
from accounts.models import Account, Identity, RucioAccountState, SyncRun
from accounts.rucio.client import (
    OWNER_KEY,
    OWNER_VALUE,
    RucioClient,
    RucioConfig,
    RucioError,
    RucioNotConfigured,
)
from accounts.scim.sync import SyncBusy, sync_lock
from accounts.services import audit_record

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # (what, done, total)
LOCK_NAME = "rucio-provisioning"
MANAGED_TYPES = (Identity.Type.OIDC, Identity.Type.X509)


def rucio_enabled() -> bool:
    return bool(settings.GATEHOUSE_RUCIO_URL)


def rucio_identity_string(*, type: str, identity: str) -> str:
    """The identity string Rucio compares byte for byte: OIDC as stored, X.509 in slash form."""
    if type == Identity.Type.X509:
        return dn_for_storage(identity)
    return identity


def _key(type: str, identity: str) -> str:
    return f"{type} {identity}"


@dataclass
class Wanted:
    """What Rucio should hold for one Gatehouse account."""

    account: Account
    status: str  # ACTIVE or SUSPENDED
    email: str
    identities: list[str]  # sorted "TYPE identity" keys

    def matches(self, ledger: RucioAccountState | None) -> bool:
        return (
            ledger is not None
            and not ledger.problem
            and ledger.status == self.status
            and ledger.type == self.account.type
            and ledger.email == self.email
            and ledger.identities == self.identities
        )

    def differences(self, ledger: RucioAccountState | None) -> list[str]:
        """Sentences saying how the ledger differs; empty when in sync."""
        if ledger is None or ledger.synced is None:
            return ["not yet provisioned into Rucio"]
        found = []
        if ledger.problem:
            found.append(ledger.problem)
        if ledger.status != self.status:
            found.append(f"status in Rucio is {ledger.status}, should be {self.status}")
        if ledger.email != self.email:
            found.append(f"e-mail in Rucio is {ledger.email or 'empty'}, should be {self.email}")
        missing = sorted(set(self.identities) - set(ledger.identities))
        extra = sorted(set(ledger.identities) - set(self.identities))
        found += [f"identity not yet in Rucio: {key}" for key in missing]
        found += [f"identity still in Rucio: {key}" for key in extra]
        return found


def wanted_of(account: Account, identities) -> Wanted:
    """The wanted Rucio state of one account, from its (type, identity) pairs."""
    keys = sorted(
        _key(type, rucio_identity_string(type=type, identity=identity))
        for type, identity in identities
        if type in MANAGED_TYPES
    )
    status = "ACTIVE" if account.status == Account.Status.ACTIVE else "SUSPENDED"
    return Wanted(account=account, status=status, email=account.email, identities=keys)


def wanted_for(accounts) -> list[Wanted]:
    """The wanted Rucio state of the given USER accounts (identities fetched in one query)."""
    accounts = list(accounts)
    pairs: dict[int, list[tuple[str, str]]] = {a.pk: [] for a in accounts}
    rows = Identity.objects.filter(account__in=pairs, type__in=MANAGED_TYPES).values_list(
        "account_id", "type", "identity"
    )
    for account_id, type, identity in rows.iterator(chunk_size=5000):
        pairs[account_id].append((type, identity))
    return [wanted_of(a, pairs[a.pk]) for a in accounts]


@dataclass
class Outcome:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            [
                "accounts",
                "in_sync",
                "created",
                "adopted_updated",
                "suspended",
                "reactivated",
                "identities_added",
                "identities_removed",
                "not_owned",
                "failed",
            ],
            0,
        )
    )
    report: list[str] = field(default_factory=list)


def rucio_sync(
    *,
    dry_run: bool = False,
    force: bool = False,
    verify: bool = False,
    only: str | None = None,
    triggered_by: str = "command",
    url: str | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """One reconcile run; returns its SyncRun. SyncBusy if another run holds the lock."""
    config = RucioConfig.from_settings(url=url)
    with sync_lock(LOCK_NAME) as acquired:
        if not acquired:
            raise SyncBusy(
                "Another Rucio sync is running; this one did nothing. Wait for it to finish "
                "(see the Rucio sync history)."
            )
        SyncRun.objects.filter(kind=SyncRun.Kind.RUCIO, outcome=SyncRun.Outcome.RUNNING).update(
            outcome=SyncRun.Outcome.FAILED,
            finished=timezone.now(),
            error="This run stopped without finishing (its worker died); the lock is free again.",
        )
        run = SyncRun.objects.create(
            kind=SyncRun.Kind.RUCIO, triggered_by=triggered_by, forced=force
        )
        outcome = Outcome()
        with RucioClient(config) as client:
            try:
                _reconcile(
                    client,
                    run,
                    outcome,
                    dry_run=dry_run,
                    force=force,
                    verify=verify or bool(only),
                    only=only,
                    progress=progress,
                )
            except RucioError as exc:
                run.outcome = SyncRun.Outcome.FAILED
                run.error = str(exc)
            except Exception as exc:
                run.outcome = SyncRun.Outcome.FAILED
                run.error = f"The run stopped on an unexpected error ({type(exc).__name__}: {exc})."
                raise
            finally:
                run.counts = {**outcome.counts, "requests": client.requests}
                if outcome.report:
                    run.counts["report"] = outcome.report[:200]
                run.finished = timezone.now()
                run.save()
        if run.outcome == SyncRun.Outcome.SUCCESS:
            audit_record(
                action="rucio.sync",
                target="rucio",
                detail={k: v for k, v in run.counts.items() if isinstance(v, int)},
                comment=f"run {run.pk}" + (" (forced)" if force else ""),
            )
        return run


def _reconcile(
    client: RucioClient,
    run: SyncRun,
    outcome: Outcome,
    *,
    dry_run: bool,
    force: bool,
    verify: bool,
    only: str | None,
    progress: Progress | None,
) -> None:
    accounts = Account.objects.filter(type=Account.Type.USER).order_by("name")
    if only:
        accounts = accounts.filter(name=only)
    wanted = wanted_for(accounts)
    ledgers = {
        s.account_id: s
        for s in RucioAccountState.objects.filter(account__in=[w.account.pk for w in wanted])
    }
    # Everything we need to decide, in two streamed reads.
    active = {a["account"]: a for a in client.accounts()}
    owned = {a["account"] for a in client.accounts(**{OWNER_KEY: OWNER_VALUE})}
    outcome.counts["accounts"] = len(wanted)

    todo: list[Wanted] = []
    for w in wanted:
        name = w.account.name
        listed = active.get(name)
        ledger = ledgers.get(w.account.pk)
        if w.status == "ACTIVE":
            consistent = (
                name in owned
                and listed is not None
                and (listed.get("email") or "") == w.email
                and listed.get("type") == w.account.type
            )
        else:  # suspended in Rucio: hidden from the listing
            consistent = name not in active
        if consistent and w.matches(ledger) and not verify:
            outcome.counts["in_sync"] += 1
        elif w.status == "SUSPENDED" and ledger is None and name not in active:
            outcome.counts["in_sync"] += 1  # never provisioned, nothing to suspend
        else:
            todo.append(w)

    suspensions = [w for w in todo if w.status == "SUSPENDED" and w.account.name in owned]
    percent = settings.GATEHOUSE_RUCIO_FAILSAFE_PERCENT
    if owned and len(suspensions) * 100 > percent * len(owned) and not force and not dry_run:
        run.outcome = SyncRun.Outcome.HALTED
        run.error = (
            f"This run would suspend {len(suspensions)} of {len(owned)} Gatehouse accounts in "
            f"Rucio, more than the failsafe allows ({percent}%). Nothing was changed. If these "
            "accounts really are suspended, run `python manage.py rucio_sync --force` "
            '(or use "Run now, forced" on the Rucio sync page).'
        )
        outcome.counts["would_suspend"] = len(suspensions)
        return

    for n, w in enumerate(todo, 1):
        try:
            _account_make_so(client, w, ledgers.get(w.account.pk), owned, outcome, dry_run)
        except RucioError as exc:
            if exc.status is None or exc.status >= 500:
                raise  # Rucio is gone: stop here; finished accounts keep their ledger rows
            outcome.counts["failed"] += 1
            outcome.report.append(f"{w.account.name}: {exc}")
            if not dry_run:
                _ledger_problem(w.account, str(exc))
        if progress:
            progress("accounts", n, len(todo))
    run.outcome = SyncRun.Outcome.DRY_RUN if dry_run else SyncRun.Outcome.SUCCESS


def _account_make_so(
    client: RucioClient,
    w: Wanted,
    ledger: RucioAccountState | None,
    owned: set[str],
    outcome: Outcome,
    dry_run: bool,
) -> None:
    name = w.account.name
    counts = outcome.counts
    if name not in owned:
        found = client.account(name)
        # Rucio hides a suspended account's attributes; our ledger remembers we provisioned it.
        ours = ledger is not None and ledger.synced is not None
        if found is not None and not ours:
            attributes = client.attributes(name)
            ours = (attributes or {}).get(OWNER_KEY) == OWNER_VALUE
        if found is not None and not ours:
            counts["not_owned"] += 1
            problem = (
                f"Rucio already has an account {name!r} that Gatehouse did not create; it was "
                f"left alone. To let Gatehouse manage it, set its attribute {OWNER_KEY}="
                f"{OWNER_VALUE} (rucio-admin account add-attribute)."
            )
            if found.get("status") != "ACTIVE":
                problem += f" It is {found.get('status')} in Rucio: make it ACTIVE first."
            outcome.report.append(problem)
            if not dry_run:
                _ledger_problem(w.account, problem)
            return
        if found is None:
            if w.status != "ACTIVE":
                counts["in_sync"] += 1
                return
            counts["created"] += 1
            if dry_run:
                outcome.report.append(f"would create {name}")
                return
            client.account_add(name=name, type=w.account.type, email=w.email)
            client.owner_mark(name=name)
            current_status = "ACTIVE"
        else:
            current_status = found.get("status", "")
    else:
        current_status = "ACTIVE"  # owned and listed: Rucio lists only ACTIVE accounts

    if w.status == "SUSPENDED":
        if current_status == "ACTIVE":
            counts["suspended"] += 1
            if not dry_run:
                client.account_update(name=name, status="SUSPENDED")
        if not dry_run:
            _ledger_write(w, identities=ledger.identities if ledger else [])
        return

    if current_status != "ACTIVE":
        counts["reactivated"] += 1
        if dry_run:
            outcome.report.append(f"would reactivate {name}")
            return
        client.account_update(name=name, status="ACTIVE")
    if dry_run:
        return
    client.account_update(name=name, email=w.email)
    present = client.identities(name) or []
    have = {_key(i["type"], i["identity"]) for i in present if i["type"] in MANAGED_TYPES}
    want = set(w.identities)
    for key in sorted(want - have):
        type, identity = key.split(" ", 1)
        if type == Identity.Type.X509 and not w.email:
            raise RucioError(
                f"{name} has no e-mail address, and Rucio needs one for an X.509 identity: "
                "set the account's e-mail, then run the sync again.",
                400,
            )
        client.identity_add(name=name, type=type, identity=identity, email=w.email or "")
        counts["identities_added"] += 1
    for key in sorted(have - want):
        type, identity = key.split(" ", 1)
        client.identity_remove(name=name, type=type, identity=identity)
        counts["identities_removed"] += 1
    _ledger_write(w, identities=w.identities)


def _ledger_write(w: Wanted, *, identities: list[str]) -> None:
    with transaction.atomic():
        RucioAccountState.objects.update_or_create(
            account=w.account,
            defaults={
                "status": w.status,
                "type": w.account.type,
                "email": w.email,
                "identities": identities,
                "synced": timezone.now(),
                "problem": "",
            },
        )


def _ledger_problem(account: Account, problem: str) -> None:
    with transaction.atomic():
        state, _ = RucioAccountState.objects.get_or_create(account=account)
        state.problem = problem[:2000]
        state.save(update_fields=["problem"])


__all__ = ["RucioNotConfigured", "SyncBusy", "rucio_enabled", "rucio_sync", "wanted_for"]
