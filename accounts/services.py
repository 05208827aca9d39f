"""Writes for accounts and identities: each a keyword-only function in a transaction."""

from datetime import UTC, datetime, timedelta
from functools import partial

import jwt
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.emails import registration_decision_email
from accounts.models import Account, AuditEvent, Identity, Registration, Token
from accounts.selectors import account_name_suggestion, account_name_taken


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


# ---- Login and registration (accounts.oidc) -------------------------------------------------


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
def identity_add(
    *,
    account: Account,
    type: str,
    identity: str,
    email: str = "",
    source: str = Identity.Source.MANUAL,
    idp: str = "",
    actor: Account | None = None,
    ip: str | None = None,
) -> Identity:
    """Link an identity (OIDC "SUB=.., ISS=..", X.509 DN) to an account."""
    row = Identity(
        account=account, type=type, identity=identity, email=email, source=source, idp=idp
    )
    row.full_clean()
    row.save()
    audit_record(
        action="identity.add",
        actor=actor,
        account=account,
        target=f"{type}:{identity}",
        detail={"source": source, "idp": idp},
        ip=ip,
    )
    return row


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
    transaction.on_commit(partial(registration_decision_email, registration_id=registration.pk))
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
    transaction.on_commit(partial(registration_decision_email, registration_id=registration.pk))
    return registration


def _jwt_claims_unverified(token: str) -> dict:
    # Only for bookkeeping (expiry, audience) of a token we just got from the token endpoint.
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}


@transaction.atomic
def login_token_store(
    *,
    account: Account,
    identity: Identity | None,
    idp: str,
    token_response: dict,
    ip: str | None = None,
) -> Token:
    """Keep the tokens a login brought (encrypted at rest, the access token also hashed)."""
    now = timezone.now()
    access_token = token_response["access_token"]
    claims = _jwt_claims_unverified(access_token)
    if isinstance(token_response.get("expires_in"), int | float):
        expires_at = now + timedelta(seconds=token_response["expires_in"])
    elif isinstance(claims.get("exp"), int | float):
        expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    else:
        expires_at = now + timedelta(hours=1)  # RFC 6749 leaves it open; assume a short life
    audience = claims.get("aud", "")
    refresh_token = token_response.get("refresh_token") or ""
    refresh_expires_in = token_response.get("refresh_expires_in")
    token = Token(
        account=account,
        identity=identity,
        idp=idp,
        token_hash=token_hash(access_token),
        token=access_token,
        id_token=token_response.get("id_token", ""),
        scope=token_response.get("scope") or claims.get("scope", ""),
        audience=" ".join(audience) if isinstance(audience, list) else str(audience),
        expires_at=expires_at,
        refresh_token=refresh_token,
        refresh=bool(refresh_token),
        refresh_start=now if refresh_token else None,
        refresh_expires_at=now + timedelta(seconds=refresh_expires_in)
        if refresh_token and isinstance(refresh_expires_in, int) and refresh_expires_in > 0
        else None,
        ip=ip,
    )
    token.full_clean()
    token.save()
    return token


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
