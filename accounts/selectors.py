"""Reads for accounts, identities and tokens."""

from django.db.models import QuerySet

from accounts.models import Account, SyncRun, Token


def tokens_for_account(*, account: Account) -> QuerySet[Token]:
    return Token.objects.filter(account=account).order_by("-created")


def sync_runs_recent(*, limit: int = 50) -> QuerySet[SyncRun]:
    return SyncRun.objects.order_by("-started")[:limit]
