"""Signing keys of the storage-token issuer: create, rotate, retire, publish (JWKS), sign.

A key is `next` (published, not yet signing: storage caches learn it before it is used; `rotate`
activates it only after GATEHOUSE_ISSUER_KEY_CACHE seconds in the JWKS),
`active` (signs; exactly one) or `retired` (published until every token it signed has expired,
plus GATEHOUSE_ISSUER_KEY_CACHE seconds for the storage's key cache). Private keys are PEM,
encrypted at rest with the token key ring (accounts/crypto.py).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from accounts.models import Account
from accounts.services import audit_record
from tokens.models import MAX_STORAGE_TOKEN_LIFETIME, IssuerKey, StorageElement

TOKEN_TYPE = "at+jwt"


class NoSigningKey(Exception):
    """There is no active issuer key: run `manage.py issuer_key create`."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _generate(alg: str):
    if alg == IssuerKey.Alg.RS256:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _public_jwk(private_key, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == IssuerKey.Alg.RS256 else ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(private_key.public_key()))
    # RFC 7638 thumbprint as the kid: stable, and says nothing about when the key was made.
    members = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "e", "kty", "n", "x", "y")}
    kid = _b64(hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest())
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class RotationTooSoon(ValueError):
    """The next key may not be in storage's key cache yet; the message says when it will be."""


def _key_make(*, alg: str, state: str, now: datetime, actor: Account | None) -> IssuerKey:
    private_key = _generate(alg)
    jwk = _public_jwk(private_key, alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key = IssuerKey(kid=jwk["kid"], alg=alg, private_key=pem, public_jwk=jwk, state=state)
    key.created = now
    if state == IssuerKey.State.ACTIVE:
        key.activated = now
    key.full_clean()
    key.save()
    audit_record(
        action="issuer_key.create",
        actor=actor,
        target=f"kid:{key.kid}",
        detail={"alg": alg, "state": state},
    )
    return key


@transaction.atomic
def issuer_key_create(*, alg: str = IssuerKey.Alg.ES256, actor: Account | None = None) -> IssuerKey:
    """A new `next` key (published at once, signing only after a rotation). On an issuer without
    an active key the new key is active, and a next key is made with it, so that storage's key
    caches learn the key the first rotation activates long before it signs."""
    has_active = IssuerKey.objects.select_for_update().filter(state=IssuerKey.State.ACTIVE)
    now = timezone.now()
    if has_active.exists():
        key = _key_make(alg=alg, state=IssuerKey.State.NEXT, now=now, actor=actor)
    else:
        key = _key_make(alg=alg, state=IssuerKey.State.ACTIVE, now=now, actor=actor)
        if not IssuerKey.objects.filter(state=IssuerKey.State.NEXT).exists():
            _key_make(alg=alg, state=IssuerKey.State.NEXT, now=now, actor=actor)
    forget_active_key()
    return key


def key_cache_time() -> timedelta:
    """How long storage may keep a JWKS it fetched (GATEHOUSE_ISSUER_KEY_CACHE)."""
    return timedelta(seconds=settings.GATEHOUSE_ISSUER_KEY_CACHE)


def next_key_safe_from(key: IssuerKey) -> datetime:
    """When every storage key cache has seen this next key: it is published from its creation."""
    return key.created + key_cache_time()


def _longest_lifetime() -> timedelta:
    longest = StorageElement.objects.aggregate(longest=Max("max_lifetime"))["longest"]
    return min(longest or MAX_STORAGE_TOKEN_LIFETIME, MAX_STORAGE_TOKEN_LIFETIME)


@transaction.atomic
def issuer_key_rotate(*, actor: Account | None = None, force: bool = False) -> IssuerKey:
    """The oldest next key becomes active, the active one retires, and a new next key is
    published at once. Refuses (RotationTooSoon) when the next key has been published for less
    than the storage key-cache time, or when there is none, unless `force`: storage that has not
    fetched the JWKS since then refuses the new key's tokens until its cache expires.
    Returns the new active key."""
    keys = list(IssuerKey.objects.select_for_update().exclude(state=IssuerKey.State.RETIRED))
    active = next((k for k in keys if k.state == IssuerKey.State.ACTIVE), None)
    waiting = sorted((k for k in keys if k.state == IssuerKey.State.NEXT), key=lambda k: k.created)
    alg = active.alg if active else IssuerKey.Alg.ES256
    now = timezone.now()
    cache_minutes = int(key_cache_time().total_seconds() // 60)
    if not force and not waiting:
        raise RotationTooSoon(
            "There is no next key for storage to have cached: run `issuer_key create`, then "
            f"rotate once it has been published for {cache_minutes} minutes (the storage "
            "key-cache time), or rotate with --force if new tokens may be refused meanwhile."
        )
    if not force and now < next_key_safe_from(waiting[0]):
        safe = next_key_safe_from(waiting[0])
        wait_minutes = -(-int((safe - now).total_seconds()) // 60)
        raise RotationTooSoon(
            f"Next key {waiting[0].kid} has been published only since "
            f"{waiting[0].created:%Y-%m-%d %H:%M} UTC, and storage may cache the old key set for "
            f"{cache_minutes} minutes (GATEHOUSE_ISSUER_KEY_CACHE), so it could refuse every "
            f"token the new key signs: rotate at or after {safe:%Y-%m-%d %H:%M} UTC (in "
            f"{wait_minutes} minutes). For a leaked key, rotate with --force: storage that has "
            "not refetched the key set refuses new tokens until its cache expires."
        )
    if active is not None:
        active.state, active.retired = IssuerKey.State.RETIRED, now
        # Every token it signed expires by then: lifetimes are capped per storage element.
        active.last_expiry = now + _longest_lifetime()
        active.save(update_fields=["state", "retired", "last_expiry"])
    if waiting:
        promoted = waiting[0]
        promoted.state, promoted.activated = IssuerKey.State.ACTIVE, now
        promoted.save(update_fields=["state", "activated"])
    else:
        promoted = _key_make(alg=alg, state=IssuerKey.State.ACTIVE, now=now, actor=actor)
    if len(waiting) <= 1:  # the new next key keeps the algorithm the operator last chose
        _key_make(alg=promoted.alg, state=IssuerKey.State.NEXT, now=now, actor=actor)
    audit_record(
        action="issuer_key.rotate",
        actor=actor,
        target=f"kid:{promoted.kid}",
        detail={"retired": active.kid if active else None, "forced": force},
    )
    forget_active_key()
    return promoted


@transaction.atomic
def issuer_key_retire(*, kid: str, actor: Account | None = None, now: bool = False) -> IssuerKey:
    """Retire a next or retired key; `now` also takes it out of the JWKS at once (a leaked key:
    tokens it signed stop verifying once storage refreshes its key cache). The active key is
    retired by `rotate`, so that something always signs."""
    key = IssuerKey.objects.select_for_update().filter(kid=kid).first()
    if key is None:
        raise ValueError(f"There is no issuer key {kid!r}: `issuer_key list` shows them.")
    if key.state == IssuerKey.State.ACTIVE:
        raise ValueError(
            f"Key {kid} is the active key: run `issuer_key rotate` first, then retire it."
        )
    stamp = timezone.now()
    key.state = IssuerKey.State.RETIRED
    key.retired = key.retired or stamp
    if now:
        key.last_expiry = stamp - timedelta(seconds=settings.GATEHOUSE_ISSUER_KEY_CACHE)
    elif key.last_expiry is None:
        key.last_expiry = stamp
    key.save(update_fields=["state", "retired", "last_expiry"])
    audit_record(action="issuer_key.retire", actor=actor, target=f"kid:{kid}", detail={"now": now})
    forget_active_key()
    return key


def published_keys(*, at: datetime | None = None) -> list[IssuerKey]:
    """Keys the JWKS names: active, next, and retired ones still needed by unexpired tokens."""
    at = at or timezone.now()
    grace = key_cache_time()
    return list(
        IssuerKey.objects.filter(
            Q(state__in=[IssuerKey.State.ACTIVE, IssuerKey.State.NEXT])
            | Q(state=IssuerKey.State.RETIRED, last_expiry__gt=at - grace)
        ).order_by("state", "-created")
    )


def jwks_document(*, at: datetime | None = None) -> dict[str, list[dict]]:
    return {"keys": [key.public_jwk for key in published_keys(at=at)]}


@dataclass(frozen=True, slots=True)
class Signer:
    """The active key, loaded once per process (decrypting and parsing PEM costs ~1 ms)."""

    kid: str
    alg: str
    key: Any

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.key, algorithm=self.alg, headers={"kid": self.kid, "typ": TOKEN_TYPE}
        )


def forget_active_key() -> None:
    """Look the active key up again on the next signature (after a change in this process)."""
    _ACTIVE_KID[:] = [None, 0.0]
    _signer_for.cache_clear()


@functools.lru_cache(maxsize=8)
def _signer_for(kid: str) -> Signer:
    key = IssuerKey.objects.get(kid=kid)
    private = serialization.load_pem_private_key(key.private_key.encode(), password=None)
    return Signer(kid=key.kid, alg=key.alg, key=private)


_ACTIVE_KID: list = [None, 0.0]  # (kid, when looked up): one query per process every few seconds
ACTIVE_KID_SECONDS = 5.0


def active_signer() -> Signer:
    """The signer of the active key. A rotation made by another process is seen within
    ACTIVE_KID_SECONDS; meanwhile the old key still signs, and the JWKS still publishes it."""
    kid, looked_up = _ACTIVE_KID
    if kid is None or time.monotonic() - looked_up > ACTIVE_KID_SECONDS:
        kid = (
            IssuerKey.objects.filter(state=IssuerKey.State.ACTIVE)
            .values_list("kid", flat=True)
            .first()
        )
        _ACTIVE_KID[:] = [kid, time.monotonic()]
    if kid is None:
        raise NoSigningKey(
            "Gatehouse has no active storage-token signing key: an admin runs "
            "`manage.py issuer_key create`."
        )
    try:
        return _signer_for(kid)
    except IssuerKey.DoesNotExist:  # deleted meanwhile: look again
        forget_active_key()
        return active_signer()
