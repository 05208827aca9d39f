"""What one IAM user means for Gatehouse, kept small: 100,000 of them must fit in memory."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounts.dn import dn_to_slash
from accounts.identities import oidc_identity
from accounts.scim.client import UserRecord, parse_user, what_the_sync_reads
from accounts.scim.models import IndigoUser


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
    iam_active: bool = True
    end_time: datetime | None = None
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
    staged.iam_active = user.active is not False
    staged.end_time = indigo.end_time
    staged_activity(staged, now=now)
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


def staged_activity(staged: StagedUser, *, now: datetime) -> StagedUser:
    """Whether the user counts as active now: deactivated or past endTime does not."""
    staged.active, staged.inactive_reason = True, ""
    if not staged.iam_active:
        staged.active, staged.inactive_reason = False, "deactivated in IAM"
    elif staged.end_time is not None and staged.end_time <= now:
        ended = staged.end_time.astimezone(UTC)
        staged.active = False
        staged.inactive_reason = f"membership ended {ended:%Y-%m-%d %H:%M} UTC"
    return staged


class StagingMemo:
    """Staged users of the last complete read, by a digest of what the sync reads of them.

    A worker syncs the same provider every 30 minutes and almost nobody changes in between;
    an unchanged payload stages to the same result, so it skips validation (most of the CPU
    of a run). Kept per provider in the process; replaced after each complete read.
    """

    _by_provider: dict[str, dict[str, tuple[bytes, StagedUser]]] = {}

    def __init__(self, nickname: str, *, now: datetime):
        self.nickname = nickname
        self.now = now
        self.previous = self._by_provider.get(nickname, {})
        self.current: dict[str, tuple[bytes, StagedUser]] = {}
        self.hits = 0

    def stage(self, raw: dict) -> StagedUser:
        trimmed = what_the_sync_reads(raw)
        digest = hashlib.blake2b(
            json.dumps(trimmed, sort_keys=True, separators=(",", ":")).encode(), digest_size=16
        ).digest()
        cached = self.previous.get(raw["id"])
        if cached is not None and cached[0] == digest and not cached[1].unreadable:
            staged = staged_activity(cached[1], now=self.now)
            self.hits += 1
        else:
            staged = stage_user(parse_user(raw), now=self.now)
        self.current[staged.scim_id] = (digest, staged)
        return staged

    def keep(self) -> None:
        """The read was complete: these are the users to compare with next time."""
        self._by_provider[self.nickname] = self.current
        self.previous = {}

    @classmethod
    def forget_all(cls) -> None:
        cls._by_provider.clear()
