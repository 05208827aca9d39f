"""Reads for accounts, identities and tokens."""

from django.db.models import QuerySet

from accounts.models import Account, Token


def tokens_for_account(*, account: Account) -> QuerySet[Token]:
    return Token.objects.filter(account=account).order_by("-created")
