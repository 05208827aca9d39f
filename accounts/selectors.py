"""Reads for accounts, identities and tokens."""

import contextlib
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from accounts.identities import parse_oidc_identity
from accounts.idps import get_provider, provider_for_issuer
from accounts.models import Account, Identity, Registration, SyncRun
from accounts.names import account_name_derive, account_name_valid
from accounts.prepared import PreparedQuery

# Login and registration (accounts.oidc) ---------------------------------------------------------


def account_name_taken(*, name: str) -> bool:
    """An account has this name, or someone waiting for approval asked for it."""
    return (
        Account.objects.filter(name=name).exists()
        or Registration.objects.filter(
            requested_name=name, state=Registration.State.PENDING
        ).exists()
    )


def account_name_suggestion(*, claims: dict) -> str:
    """A free account name from the provider's `preferred_username` (or email), or "user<n>"."""
    preferred = claims.get("preferred_username") or str(claims.get("email") or "").split("@")[0]
    return account_name_derive(
        str(preferred or ""), taken=lambda name: account_name_taken(name=name)
    )


def accounts_with_invalid_names() -> list[Account]:
    """Accounts whose names break today's rule (made before it, or outside the services).
    The exports leave them out of passwd and group; a rename is the fix."""
    # A regex the database can run would differ between PostgreSQL and SQLite; a few thousand
    # names are checked here instead.
    names = Account.objects.order_by("name").values_list("pk", "name")
    bad = [pk for pk, name in names.iterator(chunk_size=5000) if not account_name_valid(name)]
    return list(Account.objects.filter(pk__in=bad).order_by("name"))


def registrations_pending() -> QuerySet[Registration]:
    return Registration.objects.filter(state=Registration.State.PENDING).order_by("created")


def registrations_pending_count() -> int:
    """How many registrations wait for an admin (the admin nav shows it)."""
    return Registration.objects.filter(state=Registration.State.PENDING).count()


def registration_latest(*, identity: str) -> Registration | None:
    """The newest registration for an identity string, whatever its state."""
    return Registration.objects.filter(identity=identity).order_by("-created").first()


def account_find(*, name: str) -> Account | None:
    return Account.objects.filter(name=name).first()


def accounts_list(*, status: str | None = None, type: str | None = None) -> QuerySet[Account]:
    """Accounts by name, each with `identity_count`."""
    accounts = Account.objects.annotate(identity_count=Count("identities")).order_by("name")
    if status:
        accounts = accounts.filter(status=status)
    if type:
        accounts = accounts.filter(type=type)
    return accounts


def identities_list(*, account: Account | None = None) -> QuerySet[Identity]:
    identities = Identity.objects.select_related("account").order_by(
        "account__name", "type", "created"
    )
    return identities.filter(account=account) if account is not None else identities


def identity_find(*, type: str, identity: str) -> Identity | None:
    """The identity with this exact (type, stored string), whichever account holds it."""
    return Identity.objects.select_related("account").filter(type=type, identity=identity).first()


# The token endpoint asks this for every subject token: compiled to SQL once per process.
_ACCOUNT_OF_IDENTITY = PreparedQuery(
    lambda type, identity: Account.objects.filter(
        identities__type=type, identities__identity=identity
    ).order_by(),  # (type, identity) is unique: one row at most
    generic_plan=True,
    type=str,
    identity=str,
)


# Every logged-in request loads its account (accounts.oidc.backend.get_user).
_ACCOUNT = PreparedQuery(
    lambda pk: Account.objects.filter(pk=pk).order_by(), generic_plan=True, pk=int
)


def account_by_id(pk: int) -> Account | None:
    found = _ACCOUNT(pk=pk)
    return found[0] if found else None


def account_of_identity(*, type: str, identity: str) -> Account | None:
    """The account holding the identity with this exact (type, stored string), if any."""
    found = _ACCOUNT_OF_IDENTITY(type=type, identity=identity)
    return found[0] if found else None


def identity_of_account(*, account: Account, pk: int) -> Identity | None:
    return Identity.objects.filter(account=account, pk=pk).first()


def identity_is_last_login(*, identity: Identity) -> bool:
    """True for the only OIDC identity of a USER account (identity_remove refuses it)."""
    if identity.type != Identity.Type.OIDC or identity.account.type != Account.Type.USER:
        return False
    others = Identity.objects.filter(account_id=identity.account_id, type=Identity.Type.OIDC)
    return not others.exclude(pk=identity.pk).exists()


def identity_provider_label(*, identity: Identity) -> str:
    """Who vouches for the identity: the provider's display name for OIDC, "" otherwise."""
    if identity.type != Identity.Type.OIDC:
        return ""
    provider = get_provider(identity.idp) if identity.idp else None
    if provider is None:
        try:
            _sub, issuer = parse_oidc_identity(identity.identity)
        except ValueError:
            return identity.idp
        provider = provider_for_issuer(issuer)
        if provider is None:
            return identity.idp or issuer
    return provider.label


@dataclass(frozen=True)
class IdentityRow:
    """One identity as the account page shows it."""

    identity: Identity
    provider: str
    subject: str
    last_login: bool


def identity_rows_for_account(*, account: Account) -> list[IdentityRow]:
    rows = []
    identities = list(Identity.objects.filter(account=account).order_by("type", "created"))
    oidc_count = sum(1 for i in identities if i.type == Identity.Type.OIDC)
    for identity in identities:
        identity.account = account
        subject = identity.identity
        if identity.type == Identity.Type.OIDC:
            with contextlib.suppress(ValueError):  # a malformed stored string is shown whole
                subject, _issuer = parse_oidc_identity(identity.identity)
        rows.append(
            IdentityRow(
                identity=identity,
                provider=identity_provider_label(identity=identity),
                subject=subject,
                last_login=identity.type == Identity.Type.OIDC
                and account.type == Account.Type.USER
                and oidc_count == 1,
            )
        )
    return rows


def sync_runs_recent(*, kind: str = SyncRun.Kind.SCIM, limit: int = 50) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(kind=kind).order_by("-started")[:limit]
