"""Reads for accounts, identities and tokens."""

import re
import unicodedata

from django.db.models import QuerySet

from accounts.models import Account, Identity, Registration, Token


def tokens_for_account(*, account: Account) -> QuerySet[Token]:
    return Token.objects.filter(account=account).order_by("-created")


# ---- Login and registration (accounts.oidc) -------------------------------------------------

ACCOUNT_NAME_MAX = 25


def account_for_oidc_identity(*, identity: str) -> tuple[Account, Identity] | None:
    """The account an OIDC identity string ("SUB=.., ISS=..") is linked to, if any."""
    row = (
        Identity.objects.select_related("account")
        .filter(type=Identity.Type.OIDC, identity=identity)
        .first()
    )
    return (row.account, row) if row else None


def account_name_taken(*, name: str) -> bool:
    """An account has this name, or someone waiting for approval asked for it."""
    return (
        Account.objects.filter(name=name).exists()
        or Registration.objects.filter(
            requested_name=name, state=Registration.State.PENDING
        ).exists()
    )


def _account_name_clean(text: str) -> str:
    """Rucio's rule: lowercase ASCII letters, digits, '-' and '_', at most 25 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9_-]+", "_", ascii_text.lower()).strip("_-")
    return name[:ACCOUNT_NAME_MAX].strip("_-")


def account_name_suggestion(*, claims: dict) -> str:
    """A free account name from the provider's `preferred_username` (or email), or "user<n>"."""
    preferred = claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0]
    base = _account_name_clean(str(preferred or "")) or "user"
    if base != "user" and not account_name_taken(name=base):
        return base
    for number in range(2 if base != "user" else 1, 10_000):
        suffix = str(number)
        candidate = base[: ACCOUNT_NAME_MAX - len(suffix)] + suffix
        if not account_name_taken(name=candidate):
            return candidate
    return ""


def registrations_pending() -> QuerySet[Registration]:
    return Registration.objects.filter(state=Registration.State.PENDING).order_by("created")


def registration_latest(*, identity: str) -> Registration | None:
    """The newest registration for an identity string, whatever its state."""
    return Registration.objects.filter(identity=identity).order_by("-created").first()
