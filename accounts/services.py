"""Writes for accounts and identities: each a keyword-only function in a transaction."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.identities import normalise_identity, parse_oidc_identity
from accounts.idps import get_provider, provider_for_issuer
from accounts.models import Account, AuditEvent, Identity, Token


def audit_record(
    *,
    action: str,
    actor: Account | None = None,
    account: Account | None = None,
    target: str = "",
    comment: str = "",
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one audit event. `actor` did `action` to `account`/`target`."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.name if actor else "",
        action=action,
        account=account,
        target=target[:300],
        comment=comment,
        detail=detail or {},
        ip=ip,
    )


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
    from campaigns.services import posix_id_allocate

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


# Tokens -----------------------------------------------------------------------------------------


@transaction.atomic
def token_delete(*, token: Token, actor: Account, ip: str | None = None) -> None:
    """Forget a token the portal holds (its owner deletes it, or an admin revokes it)."""
    by_admin = actor.pk != token.account_id
    audit_record(
        action="token.revoke" if by_admin else "token.delete",
        actor=actor,
        account=token.account,
        target=f"token:{token.token_hash[:12]}",
        detail={"idp": token.idp, "expires_at": token.expires_at.isoformat()},
        ip=ip,
    )
    token.delete()
