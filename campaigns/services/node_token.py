"""Node tokens: the credentials storage nodes use to fetch /exports/<format>."""

import ipaddress
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import Account
from accounts.services import audit_record
from campaigns.models import NodeToken

NODE_TOKEN_PREFIX = "ghn_"


@transaction.atomic
def node_token_create(
    *, name: str, actor: Account | None = None, ip: str | None = None
) -> tuple[NodeToken, str]:
    """A new node token and its secret; only the secret's SHA-256 is stored, so the caller
    must show the secret now: it cannot be shown again."""
    name = name.strip()
    if NodeToken.objects.filter(name=name, revoked_at__isnull=True).exists():
        raise ValidationError(
            {
                "name": f"A node token named {name!r} is active: choose another name, or rotate "
                "it (`manage.py node_token rotate`)."
            }
        )
    node_token, secret = _node_token_new(name=name, actor=actor)
    audit_record(
        action="node_token.create", actor=actor, target=f"node_token:{node_token.name}", ip=ip
    )
    return node_token, secret


def _node_token_new(*, name: str, actor: Account | None) -> tuple[NodeToken, str]:
    secret = NODE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    node_token = NodeToken(name=name, token_hash=token_hash(secret), created_by=actor)
    node_token.full_clean(validate_constraints=False)  # the callers hold the name's lock
    node_token.save()
    return node_token, secret


@transaction.atomic
def node_token_rotate(
    *,
    node_token: NodeToken,
    grace: timedelta,
    actor: Account | None = None,
    ip: str | None = None,
) -> tuple[NodeToken, str]:
    """A new secret for the same node; the old one keeps working for `grace` (zero: stops now),
    so the node can be given the new one without a gap."""
    if grace < timedelta(0):
        raise ValidationError("The grace period cannot be negative.")
    old = NodeToken.objects.select_for_update().get(pk=node_token.pk)
    if old.revoked_at is not None:
        raise ValidationError(
            f"The node token {old.name!r} is not active (revoked or already rotated): create a "
            "new one with `manage.py node_token create`."
        )
    old.revoked_at = timezone.now() + grace
    old.full_clean()
    old.save(update_fields=["revoked_at"])
    new, secret = _node_token_new(name=old.name, actor=actor)
    audit_record(
        action="node_token.rotate",
        actor=actor,
        target=f"node_token:{old.name}",
        detail={"old": old.pk, "new": new.pk, "old_valid_until": old.revoked_at.isoformat()},
        ip=ip,
    )
    return new, secret


@transaction.atomic
def node_token_revoke(
    *, node_token: NodeToken, actor: Account | None = None, comment: str = "", ip: str | None = None
) -> NodeToken:
    """Refuse the token from now on; the row stays, with its history of use."""
    node_token = NodeToken.objects.select_for_update().get(pk=node_token.pk)
    if node_token.state() == "revoked":
        raise ValidationError(
            f"The node token {node_token.name!r} was already revoked on "
            f"{node_token.revoked_at:%Y-%m-%d %H:%M}; create a new one if the node needs access."
        )
    node_token.revoked_at = timezone.now()
    node_token.full_clean()
    node_token.save(update_fields=["revoked_at"])
    audit_record(
        action="node_token.revoke",
        actor=actor,
        target=f"node_token:{node_token.name}",
        comment=comment,
        ip=ip,
    )
    return node_token


def node_token_record_use(*, node_token: NodeToken, ip: str | None) -> bool:
    """Note when and from where a node last used its token, at most once a minute.

    Not audited and not wrapped in a transaction: it is one conditional UPDATE on the hot path
    of every fetch, and the condition makes concurrent fetches record it once.
    """
    now = timezone.now()
    a_minute_ago = now - timedelta(minutes=1)
    if node_token.last_used_at is not None and node_token.last_used_at >= a_minute_ago:
        return False
    try:
        ip = str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        ip = None
    changed = (
        NodeToken.objects.filter(pk=node_token.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=a_minute_ago))
        .update(last_used_at=now, last_used_ip=ip)
    )
    return changed == 1
