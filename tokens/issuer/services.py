"""Minting storage tokens and recording every issuance and refusal (the audit log)."""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import Account
from accounts.oidc.flow import rate_exceeded
from accounts.services import audit_record
from tokens.issuer.keys import active_signer
from tokens.models import (
    MAX_STORAGE_TOKEN_LIFETIME,
    IssuedToken,
    OAuthClient,
    StorageElement,
)
from tokens.paths import storage_path
from tokens.policy import Grant, Refused

WLCG_VERSION = "1.0"


class Way:
    BROWSER = "browser"
    EXCHANGE = "exchange"
    CLIENT_CREDENTIALS = "client_credentials"
    TEST = "test"


@dataclass(frozen=True)
class Minted:
    token: str  # shown once, never stored
    record: IssuedToken
    claims: dict


def storage_token_claims(
    *,
    account: Account,
    storage_element: StorageElement,
    grant: Grant,
    client_id: str,
    now: datetime.datetime,
    act: dict | None = None,
) -> dict:
    """The WLCG Common JWT profile v1.0 claims of one storage token."""
    issued = int(now.timestamp())
    claims = {
        "iss": settings.SITE_URL,
        "sub": str(account.token_subject),
        "aud": storage_element.audience,
        "exp": issued + int(grant.lifetime.total_seconds()),
        "iat": issued,
        "nbf": issued,
        "jti": str(uuid.uuid4()),
        "wlcg.ver": WLCG_VERSION,
        "scope": grant.scope,
        "client_id": client_id,
    }
    if act:
        claims["act"] = act
    return claims


_SCOPE_WORD = re.compile(r"storage\.(read|create|modify|stage):(/\S*)\Z")


def _check_claims(claims: dict) -> None:
    """The second check of what goes into a token (the policy made the first): every scope a
    storage scope on a canonical path, one audience, a lifetime within the cap."""
    for word in claims["scope"].split(" "):
        match = _SCOPE_WORD.fullmatch(word)
        try:
            canonical = match is not None and storage_path(match.group(2)) == match.group(2)
        except ValueError:
            canonical = False
        if not canonical:
            raise ValueError(f"Refusing to sign a token with scope {word!r}.")
    if not isinstance(claims["aud"], str) or not claims["aud"]:
        raise ValueError("Refusing to sign a token without one audience.")
    if not 0 < claims["exp"] - claims["iat"] <= MAX_STORAGE_TOKEN_LIFETIME.total_seconds():
        raise ValueError("Refusing to sign a token living longer than 6 hours.")


def rate_limit(*, account: Account, client: OAuthClient | None) -> None:
    """Refused past GATEHOUSE_ISSUER_RATE_ACCOUNT (per account) or _CLIENT (per client) a minute."""
    if client is not None and rate_exceeded(
        f"storage-tokens:client:{client.pk}", settings.GATEHOUSE_ISSUER_RATE_CLIENT
    ):
        raise Refused(
            "rate-limit-client",
            f"Client {client.client_id} asked for too many tokens this minute; wait a minute.",
            error="slow_down",
        )
    if rate_exceeded(
        f"storage-tokens:account:{account.pk}", settings.GATEHOUSE_ISSUER_RATE_ACCOUNT
    ):
        raise Refused(
            "rate-limit-account",
            f"Too many storage tokens for {account.name} this minute; wait a minute and reuse "
            "the tokens you have until they expire.",
            error="slow_down",
        )


@transaction.atomic
def storage_token_issue(
    *,
    account: Account,
    storage_element: StorageElement,
    grant: Grant,
    way: str,
    actor: Account | None = None,
    client: OAuthClient | None = None,
    act: dict | None = None,
    ip: str | None = None,
) -> Minted:
    """Sign a token for `grant` (already decided by tokens.policy), record it, audit it."""
    signer = active_signer()
    now = timezone.now()
    claims = storage_token_claims(
        account=account,
        storage_element=storage_element,
        grant=grant,
        client_id=client.client_id if client else settings.GATEHOUSE_ISSUER_CLIENT_ID,
        now=now,
        act=act,
    )
    _check_claims(claims)
    token = signer.sign(claims)
    record = IssuedToken(
        jti=claims["jti"],
        account=account,
        client=client,
        storage_element=storage_element,
        scopes=claims["scope"],
        kid=signer.kid,
        token_hash=token_hash(token),
        way=way,
        issued_at=now,
        expires_at=now + grant.lifetime,
        ip=ip,
    )
    record.save(force_insert=True)  # every field was built here from validated values
    audit_record(
        action="storage_token.issue",
        actor=actor,
        account=account,
        target=f"se:{storage_element.name}",
        detail={
            "jti": claims["jti"],
            "client": client.client_id if client else None,
            "storage_element": storage_element.name,
            "scopes": claims["scope"],
            "expires": claims["exp"],
            "way": way,
            "act": act,
            "why": list(grant.reasons),
        },
        ip=ip,
    )
    return Minted(token, record, claims)


def storage_token_refusal_record(
    *,
    refusal: Refused,
    way: str,
    account: Account | None = None,
    actor: Account | None = None,
    client: OAuthClient | None = None,
    client_id: str = "",
    storage_element: str = "",
    scopes: str = "",
    ip: str | None = None,
) -> None:
    """Audit one refusal: who asked, for whom, through which client, for what, and the rule."""
    audit_record(
        action="storage_token.refuse",
        actor=actor,
        account=account,
        target=f"se:{storage_element}" if storage_element else "",
        comment=refusal.message,
        detail={
            "rule": refusal.rule,
            "error": refusal.error,
            "client": client.client_id if client else (client_id or None),
            "storage_element": storage_element or None,
            "scopes": scopes[:500],
            "way": way,
        },
        ip=ip,
    )


# --- registered clients ------------------------------------------------------------------------

SECRET_BYTES = 32


def client_secret_hash(secret: str) -> str:
    """SHA-256 of a generated 256-bit secret: brute force is hopeless without a slow hash, and a
    slow one would cost every machine request 100 ms."""
    return "sha256$" + token_hash(secret)


def client_secret_matches(client: OAuthClient, secret: str) -> bool:
    return hmac.compare_digest(client.secret_hash, client_secret_hash(secret))


@transaction.atomic
def oauth_client_create(
    *,
    client_id: str,
    grants: list[str],
    audiences: list[str],
    path_prefixes: list[str],
    operations: list[str] | None = None,
    may_act_for_users: bool = False,
    service_account: Account | None = None,
    actor: Account | None = None,
) -> tuple[OAuthClient, str]:
    """Register a client; returns it and its secret (shown once: only the hash is kept)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    client = OAuthClient(
        client_id=client_id,
        secret_hash=client_secret_hash(secret),
        grants=grants,
        audiences=audiences,
        path_prefixes=path_prefixes,
        operations=operations or [],
        may_act_for_users=may_act_for_users,
        service_account=service_account,
    )
    client.full_clean()
    client.save()
    audit_record(action="oauth_client.create", actor=actor, target=f"client:{client_id}")
    return client, secret


@transaction.atomic
def oauth_client_secret_reset(*, client: OAuthClient, actor: Account | None = None) -> str:
    """A new secret for `client`; the old one stops working at once."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    client.secret_hash = client_secret_hash(secret)
    client.full_clean()
    client.save(update_fields=["secret_hash"])
    audit_record(action="oauth_client.secret_reset", actor=actor, target=f"client:{client}")
    return secret


# --- storage elements --------------------------------------------------------------------------


@transaction.atomic
def storage_element_create(
    *,
    name: str,
    audiences: list[str],
    base_path: str = "/",
    endpoints: list[str] | None = None,
    max_lifetime: datetime.timedelta | None = None,
    tape: bool = False,
    tape_paths: list[str] | None = None,
    actor: Account | None = None,
) -> StorageElement:
    element = StorageElement(
        name=name,
        audiences=audiences,
        base_path=base_path,
        endpoints=endpoints or [],
        tape=tape,
        tape_paths=tape_paths or [],
    )
    if max_lifetime is not None:
        element.max_lifetime = max_lifetime
    element.full_clean()
    element.save()
    audit_record(
        action="storage_element.create",
        actor=actor,
        target=f"se:{name}",
        detail={"audiences": audiences, "base_path": element.base_path},
    )
    return element


@transaction.atomic
def storage_element_set_enabled(
    *, storage_element: StorageElement, enabled: bool, actor: Account | None = None
) -> StorageElement:
    storage_element.enabled = enabled
    storage_element.full_clean()
    storage_element.save(update_fields=["enabled"])
    audit_record(
        action="storage_element.enable" if enabled else "storage_element.disable",
        actor=actor,
        target=f"se:{storage_element.name}",
    )
    return storage_element


@transaction.atomic
def oauth_client_disable(*, client: OAuthClient, actor: Account | None = None) -> OAuthClient:
    client.enabled = False
    client.save(update_fields=["enabled"])
    audit_record(action="oauth_client.disable", actor=actor, target=f"client:{client}")
    return client
