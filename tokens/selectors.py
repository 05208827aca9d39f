"""Reads for the tokens the portal holds, and the token story of a campaign."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import Account
from tokens.inspect import trusted_issuers
from tokens.inspection import PathRejected, scopes_needed
from tokens.models import Token


def tokens_for_account(*, account: Account) -> QuerySet[Token]:
    return Token.objects.filter(account=account).order_by("-created")


class TokenState:
    VALID = "valid"
    EXPIRED = "expired"
    REFRESHABLE = "refreshable"
    CHOICES = ((VALID, "valid"), (REFRESHABLE, "expired, refreshable"), (EXPIRED, "expired"))


def _refreshable_q(now: datetime) -> Q:
    return (
        Q(expires_at__lte=now)
        & ~Q(refresh_token="")
        & (Q(refresh_expires_at__isnull=True) | Q(refresh_expires_at__gt=now))
    )


def token_state(*, token: Token, now: datetime) -> str:
    if token.expires_at > now:
        return TokenState.VALID
    if token.refresh_token and (token.refresh_expires_at is None or token.refresh_expires_at > now):
        return TokenState.REFRESHABLE
    return TokenState.EXPIRED


def token_for_viewer(*, viewer: Account, pk: int) -> Token | None:
    """The token if `viewer` owns it or is an admin; None otherwise (never say which)."""
    tokens = Token.objects.select_related("account")
    if not viewer.is_admin:
        tokens = tokens.filter(account=viewer)
    return tokens.filter(pk=pk).first()


def tokens_for_admin(
    *, now: datetime, account_name: str = "", idp: str = "", state: str = ""
) -> QuerySet[Token]:
    """Every account's tokens, newest first, filtered by account name, provider and state."""
    tokens = Token.objects.select_related("account").order_by("-created")
    if account_name:
        tokens = tokens.filter(account__name__icontains=account_name)
    if idp:
        tokens = tokens.filter(idp=idp)
    if state == TokenState.VALID:
        tokens = tokens.filter(expires_at__gt=now)
    elif state == TokenState.REFRESHABLE:
        tokens = tokens.filter(_refreshable_q(now))
    elif state == TokenState.EXPIRED:
        tokens = tokens.filter(expires_at__lte=now).exclude(_refreshable_q(now))
    return tokens


@dataclass(frozen=True)
class CampaignScopeHint:
    path: str
    issuer: str
    scopes: tuple[str, ...]
    problem: str = ""


def token_refresh_end(*, token: Token) -> datetime | None:
    """When refreshing stops: refresh_expires_at if the provider said, else refresh_start (or the
    token's creation) plus refresh_lifetime, as tokens.services applies it; None if no refresh."""
    if not token.refresh_token:
        return None
    ends = [token.refresh_expires_at] if token.refresh_expires_at else []
    if token.refresh_lifetime:
        ends.append((token.refresh_start or token.created) + token.refresh_lifetime)
    return min(ends) if ends else None


def campaign_token_scopes(*, campaign) -> list[CampaignScopeHint]:
    """For each data path of `campaign` and each trusted issuer: the scopes a token needs to
    read it (the narrowest first), relative to that issuer's storage base path."""

    hints = []
    for path in campaign.data_paths or ():
        for issuer in trusted_issuers().values():
            try:
                scopes = scopes_needed("read", path, base_path=issuer.storage_base_path)
            except PathRejected as exc:
                hints.append(CampaignScopeHint(path, issuer.label, (), str(exc)))
                continue
            hints.append(CampaignScopeHint(path, issuer.label, tuple(scopes)))
    return hints


def login_id_token(*, account: Account, token_id: int | None) -> str:
    """The ID token a login of `account` brought ("" when none, or the row is not theirs)."""
    if token_id is None:
        return ""
    token = Token.objects.filter(pk=token_id, account=account).only("id_token").first()
    return token.id_token if token else ""
