"""Writes for accounts and identities: each a keyword-only function in a transaction."""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.bulk import rows_insert
from accounts.emails import registration_decision_email, registration_waiting_email
from accounts.identities import normalise_identity, parse_oidc_identity
from accounts.idps import get_provider, provider_for_issuer
from accounts.models import (
    Account,
    AuditEvent,
    Identity,
    PosixIdCounter,
    Registration,
    Session,
)
from accounts.selectors import account_name_suggestion, account_name_taken
from accounts.signals import account_suspended


def audit_record(
    *,
    action: str,
    actor: Account | None = None,
    actor_name: str = "",
    account: Account | None = None,
    target: str = "",
    comment: str = "",
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` did `action` to `account`/`target`.

    The one writer of the audit log (with `audit_record_many` for bulk runs); `actor_name`
    names a background actor without an account ("token-lifecycle", "scim:<idp>").
    """
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=(actor.name if actor else actor_name)[:64],
        action=action,
        account=account,
        target=target[:300],
        comment=comment,
        detail=detail or {},
        ip=ip,
    )


def audit_row(
    *,
    action: str,
    actor_name: str,
    account_id: int | None = None,
    target: str = "",
    comment: str = "",
    detail: dict | None = None,
    created: datetime.datetime | None = None,
) -> dict:
    """One audit event as a row for `audit_record_many` (a background actor, no address)."""
    return {
        "created": created or timezone.now(),
        "actor_id": None,
        "actor_name": actor_name[:64],
        "action": action,
        "account_id": account_id,
        "target": target[:300],
        "comment": comment,
        "detail": detail or {},
        "ip": None,
    }


def audit_record_many(*, events: list[dict]) -> None:
    """Append many audit events (rows from `audit_row`) in one statement; for SCIM's bulk runs.

    Inside the caller's transaction, so they commit or roll back with the changes they record.
    """
    rows_insert(AuditEvent, events)


# POSIX ids ------------------------------------------------------------------------------------


def _posix_range(kind: str) -> tuple[int, int]:
    if kind == "uid":
        return settings.GATEHOUSE_UID_MIN, settings.GATEHOUSE_UID_MAX
    if kind == "gid":
        return settings.GATEHOUSE_GID_MIN, settings.GATEHOUSE_GID_MAX
    raise ValueError(f"unknown POSIX id kind {kind!r}")


@transaction.atomic
def posix_ids_allocate(*, kind: str, count: int) -> range:
    """`count` consecutive never-used uids or gids; the counter row lock serialises callers."""
    low, high = _posix_range(kind)
    PosixIdCounter.objects.get_or_create(kind=kind, defaults={"next_value": low})
    counter = PosixIdCounter.objects.select_for_update().get(kind=kind)
    first = max(counter.next_value, low)
    if first + count - 1 > high:
        raise ValidationError(
            f"The {kind} range {low}-{high} has fewer than {count} ids left: "
            f"raise GATEHOUSE_{kind.upper()}_MAX."
        )
    counter.next_value = first + count
    counter.save(update_fields=["next_value"])
    return range(first, first + count)


def posix_id_allocate(*, kind: str) -> int:
    """The next never-used uid (an account's) or gid (a campaign's)."""
    return posix_ids_allocate(kind=kind, count=1)[0]


@transaction.atomic
def account_create(
    *,
    name: str,
    email: str = "",
    password: str | None = None,
    type: str = Account.Type.USER,
    display_name: str = "",
    actor: Account | None = None,
    **extra,
) -> Account:
    """Create an account with a freshly allocated POSIX uid."""
    account = Account(name=name, email=email, type=type, display_name=display_name, **extra)
    if password:
        account.set_password(password)
    else:
        account.set_unusable_password()
    account.full_clean(exclude=["password"])
    account.uid = posix_id_allocate(kind="uid")
    account.save()
    audit_record(action="account.create", actor=actor, account=account, target=f"account:{name}")
    return account


# Identities -------------------------------------------------------------------------------------

_IDENTITY_NOUN = {"OIDC": "OIDC identity", "X509": "certificate", "SSH": "SSH key"}


class IdentityInUse(ValidationError):
    """The (type, identity) pair already belongs to an account."""


def _identity_in_use(holder: Identity, account: Account, actor: Account | None) -> IdentityInUse:
    noun = _IDENTITY_NOUN.get(holder.type, "identity")
    if holder.account_id == account.pk:
        whose = "your account" if actor is not None and actor.pk == account.pk else "this account"
        return IdentityInUse(f"This {noun} is already linked to {whose}.", code="linked_here")
    if actor is None or actor.is_admin:
        return IdentityInUse(
            f"This {noun} ({holder.identity}) is already linked to account "
            f"'{holder.account.name}'. Remove it from that account first if it should move.",
            code="linked_elsewhere",
        )
    return IdentityInUse(
        f"This {noun} is already linked to another account. If it is yours, ask the data-centre "
        "admins to move it to this account.",
        code="linked_elsewhere",
    )


@transaction.atomic
def identity_add(
    *,
    account: Account,
    type: str,
    identity: str,
    email: str = "",
    source: str = Identity.Source.MANUAL,
    idp: str = "",
    actor: Account | None,
    ip: str | None = None,
) -> Identity:
    """Link an OIDC identity or X.509 DN to an account; DNs are stored in canonical slash form."""
    try:
        value = normalise_identity(type=type, identity=identity)
    except ValueError as exc:
        raise ValidationError(str(exc), code="malformed") from None
    if type == Identity.Type.OIDC:
        _sub, issuer = parse_oidc_identity(value)
        idp = _idp_for_issuer(idp=idp, issuer=issuer)
    holder = Identity.objects.select_related("account").filter(type=type, identity=value).first()
    if holder is not None:
        raise _identity_in_use(holder, account, actor)
    linked = Identity(
        account=account, type=type, identity=value, email=email, source=source, idp=idp
    )
    linked.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():  # a concurrent link of the same identity loses here
            linked.save()
    except IntegrityError:
        holder = Identity.objects.select_related("account").get(type=type, identity=value)
        raise _identity_in_use(holder, account, actor) from None
    audit_record(
        action="identity.add",
        actor=actor,
        account=account,
        target=f"{type}:{value}",
        detail={"type": type, "identity": value, "source": source, "idp": idp},
        ip=ip,
    )
    return linked


def _idp_for_issuer(*, idp: str, issuer: str) -> str:
    """The provider nickname for an issuer; a named provider must be the issuer's own."""
    if idp:
        provider = get_provider(idp)
        if provider is not None and provider.issuer != issuer:
            raise ValidationError(
                f"Provider '{idp}' has issuer {provider.issuer}, not {issuer}: "
                "give the provider that issued this identity, or leave it out.",
                code="wrong_idp",
            )
        return idp
    provider = provider_for_issuer(issuer)
    return provider.nickname if provider else ""


@transaction.atomic
def identity_remove(
    *,
    identity: Identity,
    actor: Account | None,
    ip: str | None = None,
    allow_last: bool = False,
) -> None:
    """Unlink an identity; a USER account keeps at least one OIDC identity to log in with."""
    account = Account.objects.select_for_update().get(pk=identity.account_id)
    if (
        not allow_last
        and account.type == Account.Type.USER
        and identity.type == Identity.Type.OIDC
        and not account.identities.filter(type=Identity.Type.OIDC).exclude(pk=identity.pk).exists()
    ):
        if actor is not None and actor.pk == account.pk:
            message = (
                "This is the only identity you can log in with, so it cannot be removed. "
                "Log in once through another provider to link it, then remove this one."
            )
        else:
            message = (
                f"This is the last OIDC identity of account '{account.name}': without it the "
                "account could no longer log in. Suspend the account instead if that is the aim."
            )
        raise ValidationError(message, code="last_login_identity")
    deleted, _ = Identity.objects.filter(pk=identity.pk).delete()
    if not deleted:
        raise ValidationError("This identity was already removed.", code="gone")
    audit_record(
        action="identity.remove",
        actor=actor,
        account=account,
        target=f"{identity.type}:{identity.identity}",
        detail={
            "type": identity.type,
            "identity": identity.identity,
            "source": identity.source,
            "idp": identity.idp,
            "forced": allow_last,
        },
        ip=ip,
    )


# Account status and details ---------------------------------------------------------------------


def _locked(account: Account) -> Account:
    return Account.objects.select_for_update().get(pk=account.pk)


def _save_account(locked: Account, original: Account, fields: list[str]) -> None:
    locked.full_clean(exclude=["password"])
    locked.save(update_fields=[*fields, "updated"])
    for field in [*fields, "updated"]:  # keep the caller's object current
        setattr(original, field, getattr(locked, field))


@transaction.atomic
def account_suspend(
    *, account: Account, reason: str, actor: Account | None, ip: str | None = None
) -> Account:
    """Stop an account from logging in; the reason is kept in status_reason and the audit log."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            "Say why the account is suspended; the reason is kept with the account.",
            code="reason_required",
        )
    if actor is not None and actor.pk == account.pk:
        raise ValidationError(
            "You cannot suspend your own account; ask another admin.", code="self"
        )
    locked = _locked(account)
    if locked.status == Account.Status.SUSPENDED:
        raise ValidationError(
            f"Account '{locked.name}' is already suspended ({locked.status_reason}).",
            code="already_suspended",
        )
    if locked.status == Account.Status.DELETED:
        raise ValidationError(
            f"Account '{locked.name}' is deleted; a deleted account cannot be suspended.",
            code="deleted",
        )
    locked.status, locked.status_reason = Account.Status.SUSPENDED, reason[:300]
    _save_account(locked, account, ["status", "status_reason"])
    accounts_suspended_effects(account_ids=[locked.pk])
    audit_record(
        action="account.suspend",
        actor=actor,
        account=locked,
        target=f"account:{locked.name}",
        comment=reason,
        ip=ip,
    )
    return locked


@transaction.atomic
def accounts_suspended_effects(*, account_ids: list[int]) -> int:
    """What follows a suspension, whoever made it: the accounts' sessions end and the apps
    above are told (tokens drops their refresh tokens). Returns the sessions ended."""
    if not account_ids:
        return 0
    ended = account_sessions_end(account_ids=account_ids)
    account_suspended.send(sender=Account, account_ids=list(account_ids))
    return ended


def account_sessions_end(*, account_ids: list[int]) -> int:
    """Delete the live sessions logged in as these accounts (accounts.models.Session)."""
    live = Session.objects.filter(account_id__in=account_ids, expire_date__gt=timezone.now())
    deleted, _ = live.delete()
    return deleted


@transaction.atomic
def account_reactivate(
    *, account: Account, actor: Account | None, reason: str = "", ip: str | None = None
) -> Account:
    """Let a suspended account log in again; the old reason moves to the audit log."""
    locked = _locked(account)
    if locked.status != Account.Status.SUSPENDED:
        raise ValidationError(
            f"Account '{locked.name}' is {locked.get_status_display()}, not suspended; "
            "only suspended accounts can be reactivated.",
            code="not_suspended",
        )
    previous = locked.status_reason
    locked.status, locked.status_reason = Account.Status.ACTIVE, ""
    _save_account(locked, account, ["status", "status_reason"])
    audit_record(
        action="account.reactivate",
        actor=actor,
        account=locked,
        target=f"account:{locked.name}",
        comment=reason.strip(),
        detail={"suspended_for": previous},
        ip=ip,
    )
    return locked


@transaction.atomic
def account_promote(
    *, account: Account, actor: Account | None, reason: str = "", ip: str | None = None
) -> Account:
    """Make an account a data-centre admin (staff and superuser), e.g. the first SSO admin."""
    locked = _locked(account)
    if locked.status != Account.Status.ACTIVE:
        raise ValidationError(
            f"Account '{locked.name}' is {locked.get_status_display()}: reactivate it first.",
            code="not_active",
        )
    return _admin_role_set(locked, account, admin=True, actor=actor, reason=reason, ip=ip)


@transaction.atomic
def account_demote(
    *, account: Account, actor: Account | None, reason: str = "", ip: str | None = None
) -> Account:
    """Take the admin role away from an account."""
    locked = _locked(account)
    return _admin_role_set(locked, account, admin=False, actor=actor, reason=reason, ip=ip)


def _admin_role_set(
    locked: Account, account: Account, *, admin: bool, actor, reason: str, ip: str | None
) -> Account:
    if locked.is_staff == admin and locked.is_superuser == admin:
        return locked
    locked.is_staff = locked.is_superuser = admin
    _save_account(locked, account, ["is_staff", "is_superuser"])
    audit_record(
        action="account.promote" if admin else "account.demote",
        actor=actor,
        account=locked,
        target=f"account:{locked.name}",
        comment=reason.strip(),
        ip=ip,
    )
    return locked


@transaction.atomic
def account_set_email(
    *, account: Account, email: str, actor: Account | None, ip: str | None = None
) -> Account:
    """Change the account's contact address (where decisions and notices are sent)."""
    locked = _locked(account)
    previous = locked.email
    locked.email = email.strip()
    if locked.email == previous:
        return locked
    _save_account(locked, account, ["email"])
    audit_record(
        action="account.email",
        actor=actor,
        account=locked,
        target=f"account:{locked.name}",
        detail={"from": previous, "to": locked.email},
        ip=ip,
    )
    return locked


# Login and registration (accounts.oidc) ---------------------------------------------------------


def _valid_email(value: object) -> str:
    """An email address from a provider's claims, or "" when it is not one."""
    if not isinstance(value, str):
        return ""
    try:
        EmailValidator()(value)
    except ValidationError:
        return ""
    return value


@transaction.atomic
def account_create_from_login(
    *, idp: str, identity: str, claims: dict, ip: str | None = None
) -> tuple[Account, Identity]:
    """A provider whose policy is `auto`: make the account and link the identity at once."""
    email = _valid_email(claims.get("email"))
    account = account_create(
        name=account_name_suggestion(claims=claims),
        email=email,
        display_name=str(claims.get("name") or "")[:200],
    )
    row = identity_add(
        account=account,
        type=Identity.Type.OIDC,
        identity=identity,
        email=email,
        source=Identity.Source.LOGIN,
        idp=idp,
        actor=None,
        ip=ip,
    )
    return account, row


@transaction.atomic
def registration_create(
    *,
    idp: str,
    identity: str,
    requested_name: str,
    email: str,
    display_name: str = "",
    comment: str = "",
    ip: str | None = None,
) -> Registration:
    """A first login asks for an account; an admin decides."""
    if account_name_taken(name=requested_name):
        raise ValidationError(
            {"requested_name": f"The account name {requested_name!r} is taken: choose another."}
        )
    registration = Registration(
        idp=idp,
        identity=identity,
        requested_name=requested_name,
        email=email,
        display_name=display_name,
        comment=comment,
    )
    registration.full_clean()
    registration.save()
    audit_record(
        action="registration.request",
        target=f"registration:{registration.pk}",
        detail={"idp": idp, "identity": identity, "name": requested_name},
        ip=ip,
    )
    registration_waiting_email(registration=registration)
    return registration


def _pending_registration(registration: Registration) -> Registration:
    locked = Registration.objects.select_for_update().get(pk=registration.pk)
    if locked.state != Registration.State.PENDING:
        raise ValidationError(
            f"This registration was already {locked.get_state_display()}; reload the list."
        )
    return locked


@transaction.atomic
def registration_approve(
    *, registration: Registration, actor: Account, name: str = "", ip: str | None = None
) -> Account:
    """Create the account (with its uid) and link the identity; email the person."""
    registration = _pending_registration(registration)
    name = name or registration.requested_name
    if Account.objects.filter(name=name).exists():
        raise ValidationError(
            {"name": f"An account named {name!r} exists already: approve under another name."}
        )
    linked = Identity.objects.filter(type=Identity.Type.OIDC, identity=registration.identity)
    if linked.exists():
        raise ValidationError(
            f"This identity is already linked to the account {linked.get().account.name!r}: "
            "reject this registration and tell the person to log in."
        )
    account = account_create(
        name=name,
        email=registration.email,
        display_name=registration.display_name,
        actor=actor,
    )
    identity_add(
        account=account,
        type=Identity.Type.OIDC,
        identity=registration.identity,
        email=registration.email,
        source=Identity.Source.LOGIN,
        idp=registration.idp,
        actor=actor,
        ip=ip,
    )
    registration.state = Registration.State.APPROVED
    registration.account = account
    registration.decided_by = actor
    registration.decided_at = timezone.now()
    registration.full_clean()
    registration.save()
    audit_record(
        action="registration.approve",
        actor=actor,
        account=account,
        target=f"registration:{registration.pk}",
        detail={"idp": registration.idp, "identity": registration.identity},
        ip=ip,
    )
    registration_decision_email(registration=registration)
    return account


@transaction.atomic
def registration_reject(
    *, registration: Registration, actor: Account, reason: str, ip: str | None = None
) -> Registration:
    """Refuse a registration; the reason goes to the person."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why, in a sentence the person will read."})
    registration = _pending_registration(registration)
    registration.state = Registration.State.REJECTED
    registration.reason = reason.strip()
    registration.decided_by = actor
    registration.decided_at = timezone.now()
    registration.full_clean()
    registration.save()
    audit_record(
        action="registration.reject",
        actor=actor,
        target=f"registration:{registration.pk}",
        comment=registration.reason,
        detail={"idp": registration.idp, "identity": registration.identity},
        ip=ip,
    )
    registration_decision_email(registration=registration)
    return registration
