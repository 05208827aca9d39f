"""Identity providers from a Rucio-format idpsecrets.json, and their discovery documents.

The file is Rucio's, so operators can reuse theirs unchanged: a JSON object keyed by provider
nickname, each with issuer, client_id, client_secret, redirect_uris and a SCIM object. Gatehouse
reads a few optional keys too (display_name, logo, unknown_users, op_alias, storage_base_path).
"""

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from accounts.keys import (
    IssuerUnavailable,
    IssuerUnreachable,
    JwksCache,
    discovery_fetch,
    discovery_url,
)

log = logging.getLogger(__name__)

UNKNOWN_USER_POLICIES = ("register", "auto", "deny")
DISCOVERY_TTL = 3600
DISCOVERY_FAILURE_TTL = 30


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be fetched or is not trustworthy."""


@dataclass(frozen=True)
class IdentityProvider:
    nickname: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()
    scim_client_id: str = ""
    scim_client_secret: str = field(default="", repr=False)
    scim_scope: str = "scim:read"
    scim_base_url: str = ""  # SCIM object's optional "base_url"; default {issuer}/scim
    display_name: str = ""
    logo: str = ""
    unknown_users: str = "register"
    op_alias: str = ""
    storage_base_path: str = "/"

    @property
    def label(self) -> str:
        return self.display_name or self.nickname

    @property
    def discovery_url(self) -> str:
        return discovery_url(self.issuer)


def _require(entry: dict, key: str, nickname: str, path: Path) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(
            f"{path}: provider {nickname!r} has no {key!r}; add it (a non-empty string)."
        )
    return value


def parse_idpsecrets(data: object, path: Path) -> dict[str, IdentityProvider]:
    if not isinstance(data, dict):
        raise ImproperlyConfigured(f"{path}: expected a JSON object keyed by provider nickname.")
    providers = {}
    for nickname, entry in data.items():
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{path}: provider {nickname!r} must be a JSON object.")
        scim = entry.get("SCIM") or {}
        if not isinstance(scim, dict):
            raise ImproperlyConfigured(f"{path}: provider {nickname!r}: 'SCIM' must be an object.")
        policy = entry.get("unknown_users", "register")
        if policy not in UNKNOWN_USER_POLICIES:
            raise ImproperlyConfigured(
                f"{path}: provider {nickname!r}: unknown_users must be one of "
                f"{', '.join(UNKNOWN_USER_POLICIES)}, not {policy!r}."
            )
        redirect_uris = entry.get("redirect_uris") or []
        if isinstance(redirect_uris, str):
            redirect_uris = [redirect_uris]
        providers[nickname] = IdentityProvider(
            nickname=nickname,
            issuer=_require(entry, "issuer", nickname, path),
            client_id=_require(entry, "client_id", nickname, path),
            client_secret=_require(entry, "client_secret", nickname, path),
            redirect_uris=tuple(redirect_uris),
            scim_client_id=scim.get("client_id", "") or "",
            scim_client_secret=scim.get("client_secret", "") or "",
            scim_scope=scim.get("scope", "scim:read") or "scim:read",
            scim_base_url=scim.get("base_url", "") or "",
            display_name=entry.get("display_name", "") or "",
            logo=entry.get("logo", "") or "",
            unknown_users=policy,
            op_alias=entry.get("op_alias", "") or nickname,
            storage_base_path=entry.get("storage_base_path", "/") or "/",
        )
    return providers


@functools.cache
def _load(path_str: str) -> dict[str, IdentityProvider]:
    if not path_str:
        return {}
    path = Path(path_str)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ImproperlyConfigured(
            f"GATEHOUSE_IDPSECRETS points to {path}, which does not exist: fix the path."
        ) from exc
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{path} is not valid JSON: {exc}.") from exc
    return parse_idpsecrets(data, path)


def get_providers() -> dict[str, IdentityProvider]:
    """All configured providers, by nickname, in the file's order."""
    return _load(settings.GATEHOUSE_IDPSECRETS)


def get_provider(nickname: str) -> IdentityProvider | None:
    return get_providers().get(nickname)


def provider_for_issuer(issuer: str) -> IdentityProvider | None:
    return next((p for p in get_providers().values() if p.issuer == issuer), None)


def discovery_document(issuer: str, *, fresh: bool = False) -> dict:
    """The issuer's discovery document (accounts.keys.discovery_fetch), kept in the cache for
    an hour, a failure for 30 seconds. Raises IssuerUnavailable (IssuerUnreachable when the
    issuer did not answer). `fresh` fetches it again whatever the cache holds.
    """
    key = f"oidc-discovery:{issuer}"
    cached = None if fresh else cache.get(key)
    if isinstance(cached, dict):
        return cached
    if isinstance(cached, list):  # a recent failure: [unreachable, message]
        raise (IssuerUnreachable if cached[0] else IssuerUnavailable)(cached[1])
    try:
        document = discovery_fetch(issuer, timeout=settings.GATEHOUSE_HTTP_TIMEOUT)
    except IssuerUnavailable as exc:
        cache.set(key, [isinstance(exc, IssuerUnreachable), str(exc)], DISCOVERY_FAILURE_TTL)
        raise
    cache.set(key, document, DISCOVERY_TTL)
    return document


def discovery(provider: IdentityProvider, *, fresh: bool = False) -> dict:
    """The provider's discovery document, cached; its issuer must equal the configured one.

    `fresh` fetches it again whatever the cache holds (check_idps).
    """
    try:
        return discovery_document(provider.issuer, fresh=fresh)
    except IssuerUnreachable as exc:
        log.warning("discovery failed for %s: %s", provider.nickname, exc)
        raise ProviderUnavailable(f"{provider.label} is not answering ({exc}).") from exc
    except IssuerUnavailable as exc:
        log.warning("discovery refused for %s: %s", provider.nickname, exc)
        raise ProviderUnavailable(
            f"{provider.label}'s discovery document cannot be used: {exc}."
        ) from exc


@functools.cache
def key_source() -> JwksCache:
    """The one signing-key cache of this process, for login and token inspection alike."""
    return JwksCache(
        fresh_for=settings.GATEHOUSE_KEYS_FRESH_SECONDS,
        stale_for=settings.GATEHOUSE_KEYS_STALE_SECONDS,
        unknown_kid_interval=settings.GATEHOUSE_KEYS_REFETCH_SECONDS,
        timeout=settings.GATEHOUSE_HTTP_TIMEOUT,
        discover=discovery_document,
    )
