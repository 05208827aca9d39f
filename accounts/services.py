"""Writes for accounts and identities: each a keyword-only function in a transaction."""

from django.db import transaction

from accounts.models import Account, AuditEvent, Token


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
