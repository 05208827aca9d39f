"""What one IAM user means for Gatehouse, kept small: 100,000 of them must fit in memory."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounts.dn import dn_to_slash
from accounts.identities import oidc_identity
from accounts.scim.client import UserRecord
from accounts.scim.models import IndigoUser

ACCOUNT_NAME_MAX = 25


def scim_id_from_identity(identity: str, issuer: str) -> str | None:
    """The subject of `SUB=<sub>, ISS=<issuer>` for exactly this issuer, else None."""
    suffix = f", ISS={issuer}"
    if identity.startswith("SUB=") and identity.endswith(suffix):
        return identity[4 : -len(suffix)]
    return None


@dataclass(slots=True)
class StagedUser:
    scim_id: str
    user_name: str = ""
    email: str = ""
    display_name: str = ""
    active: bool = True
    inactive_reason: str = ""
    oidc: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)
    unreadable: bool = False


def stage_user(record: UserRecord, *, now: datetime) -> StagedUser:
    """Turn one SCIM record into what the sync compares with the database."""
    if record.user is None:
        return StagedUser(record.id, unreadable=True, problems=[record.problem])
    user = record.user
    # The field, not user[IndigoUser]: scim2-models 0.12.3 caches the path class behind that
    # in a WeakValueDictionary with check-then-get, which raises KeyError when GC runs between.
    indigo = getattr(user, IndigoUser.__name__, None) or IndigoUser()
    staged = StagedUser(record.id, user_name=user.user_name or "")
    emails = user.emails or []
    primary = next((e for e in emails if e.primary), emails[0] if emails else None)
    staged.email = str(primary.value) if primary and primary.value else ""
    name = user.name
    full = (name.formatted if name else None) or " ".join(
        p for p in (name.given_name if name else None, name.family_name if name else None) if p
    )
    staged.display_name = (full or user.display_name or staged.user_name)[:200]
    if user.active is False:
        staged.active, staged.inactive_reason = False, "deactivated in IAM"
    elif indigo.end_time is not None and indigo.end_time <= now:
        staged.active = False
        ended = indigo.end_time.astimezone(UTC)
        staged.inactive_reason = f"membership ended {ended:%Y-%m-%d %H:%M} UTC"
    oidc = []
    for linked in indigo.oidc_ids or ():
        try:
            oidc.append(oidc_identity(sub=linked.subject or "", issuer=linked.issuer or ""))
        except ValueError:
            staged.problems.append(
                f"OIDC account ({linked.subject!r} at {linked.issuer!r}) cannot be an identity"
            )
    staged.oidc = tuple(dict.fromkeys(oidc))
    dns = []
    for cert in indigo.certificates or ():
        if not cert.subject_dn:
            continue
        try:
            dns.append(dn_to_slash(cert.subject_dn))
        except ValueError:
            staged.problems.append(f"certificate DN {cert.subject_dn!r} cannot be read")
    staged.dns = tuple(dict.fromkeys(dns))
    staged.groups = tuple(g.value for g in user.groups or () if g.value)
    return staged


def account_name_for(user_name: str, taken: set[str]) -> str:
    """A free Rucio-style account name (lowercase, digits, '-', '_', at most 25) from a username."""
    base = re.sub(r"[^a-z0-9_-]+", "-", user_name.lower()).strip("-")[:ACCOUNT_NAME_MAX] or "user"
    name, n = base, 2
    while name in taken:
        suffix = f"-{n}"
        name = base[: ACCOUNT_NAME_MAX - len(suffix)] + suffix
        n += 1
    return name
