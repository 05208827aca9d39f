"""Reads for the Rucio pages: an account's Rucio state, from the reconcile's ledger."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Account, RucioAccountState, SyncRun
from accounts.rucio.sync import rucio_enabled, wanted_of


@dataclass(frozen=True)
class RucioState:
    state: str  # "off", "in sync", "pending", "differs", "not provisioned" (non-USER)
    differences: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()  # the identity strings Rucio holds for the account

    @property
    def badge(self) -> str:
        return {"in sync": "ok", "pending": "pending", "differs": "warn"}.get(self.state, "info")


def rucio_state_of(*, account: Account) -> RucioState:
    """How Rucio stands for this account, by the ledger the last run wrote; prefetch-friendly
    (uses account.identities.all() and account.rucio_state)."""
    if not rucio_enabled():
        return RucioState("off")
    if account.type != Account.Type.USER:
        return RucioState("not provisioned")
    wanted = wanted_of(account, [(i.type, i.identity) for i in account.identities.all()])
    try:
        ledger = account.rucio_state
    except RucioAccountState.DoesNotExist:
        ledger = None
    held = tuple(key.split(" ", 1)[1] for key in (ledger.identities if ledger else []))
    if ledger is None or ledger.synced is None:
        problem = (ledger.problem,) if ledger and ledger.problem else ()
        return RucioState("differs" if problem else "pending", problem or wanted.differences(None))
    differences = tuple(wanted.differences(ledger))
    return RucioState("differs" if differences else "in sync", differences, held)


def rucio_runs_recent(*, limit: int = 50):
    return SyncRun.objects.filter(kind=SyncRun.Kind.RUCIO).order_by("-started")[:limit]
