"""Where signing keys come from: a provider's discovery document and its JWKS, cached.

The one key source for login (accounts.oidc.verify) and token inspection (tokens.inspection):
one cache, one algorithm allow-list. Keys come only from the trusted issuer's OpenID discovery
document (`jwks_uri`); never from `jku`, `x5u`, `jwk`/`x5c` headers, and a `kid` is only ever a
dictionary key. Cache policy follows the WLCG Common JWT Profile v1.0 "Token Lifetime Guidance"
table (issuer public key cache: recommended 6 hours; at least 1 hour): fresh for 6 h, a stale
copy used up to 2 days while the issuer is away, an unknown `kid` refetched at most once a
minute per issuer (all three parameters; the portal sets them from GATEHOUSE_KEYS_*).

Pure Python (requests, PyJWT): no Django, so the inspection library may import it.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

# Asymmetric only: the profile forbids HMAC, and `none` is never a signature.
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
ALLOWED_ALGORITHMS = frozenset(RSA_ALGORITHMS | EC_ALGORITHMS.keys())

FRESH_FOR = 6 * 3600.0
STALE_FOR = 2 * 86400.0
UNKNOWN_KID_INTERVAL = 60.0
DEFAULT_TIMEOUT = 10.0  # seconds; the portal passes GATEHOUSE_HTTP_TIMEOUT
MAX_DOCUMENT_BYTES = 512 * 1024
LOOPBACK_HOSTS = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One public key from an issuer's JWKS, parsed once and reused for every token."""

    kid: str
    kty: str
    key: Any
    alg: str | None = None
    crv: str | None = None

    def refusal_for(self, alg: str) -> str | None:
        """Why this key cannot verify `alg`, or None when it can."""
        if self.alg and self.alg != alg:
            return f"the issuer published key {self.kid!r} for {self.alg}, not for {alg}"
        if alg in RSA_ALGORITHMS and self.kty != "RSA":
            return f"{alg} needs an RSA key but key {self.kid!r} is {self.kty}"
        if alg in EC_ALGORITHMS:
            if self.kty != "EC":
                return f"{alg} needs an EC key but key {self.kid!r} is {self.kty}"
            if self.crv != EC_ALGORITHMS[alg]:
                return f"{alg} needs curve {EC_ALGORITHMS[alg]} but key {self.kid!r} is {self.crv}"
        return None


def signing_keys_from_jwks(document: Any) -> dict[str, SigningKey]:
    """Parse a JWKS document; keys without `kid`, not for signing or of other types are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise IssuerUnavailable("the JWKS document has no `keys` list")
    keys: dict[str, SigningKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        kty = jwk.get("kty")
        try:
            if kty == "RSA":
                key = RSAAlgorithm.from_jwk(jwk)
            elif kty == "EC":
                key = ECAlgorithm.from_jwk(jwk)
            else:
                continue
        except (InvalidKeyError, ValueError, KeyError, TypeError):  # keep the issuer's other keys
            continue
        if hasattr(key, "public_key"):  # a published private key: use only its public half
            key = key.public_key()
        alg = jwk.get("alg") if isinstance(jwk.get("alg"), str) else None
        keys[jwk["kid"]] = SigningKey(jwk["kid"], kty, key, alg, jwk.get("crv"))
    return keys


class IssuerUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be fetched or understood."""


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """The answer to "which key verifies kid K of issuer I", with how fresh that answer is."""

    key: SigningKey | None
    known_kids: tuple[str, ...] = ()
    fetched_at: float | None = None
    age: float | None = None
    stale: bool = False
    error: str | None = None


@dataclass(slots=True)
class _Entry:
    keys: dict[str, SigningKey]
    fetched_at: float
    jwks_uri: str
    last_attempt: float = 0.0
    last_error: str | None = None


@dataclass(slots=True)
class _IssuerState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entry: _Entry | None = None
    last_attempt: float = float("-inf")
    last_error: str | None = None


def _allowed_fetch_url(url: str) -> bool:
    """HTTPS always; plain HTTP only to a loopback host (the dev IdP and the tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class IssuerUnreachable(IssuerUnavailable):
    """No usable answer at all (network error, timeout, an HTTP error status)."""


class _NamesIssuer(Protocol):
    issuer: str


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 §4: issuer without trailing slash + well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _get_json(
    url: str, what: str, *, timeout: float | tuple[float, float], session: requests.Session | None
) -> Any:
    """GET a JSON document: HTTPS (or loopback HTTP), no redirects, at most 512 KiB."""
    if not _allowed_fetch_url(url):
        raise IssuerUnavailable(f"the {what} URL {url} is not HTTPS")
    try:
        with (session or requests).get(
            url,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise IssuerUnreachable(f"{url} answered HTTP {response.status_code}")
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as error:
        raise IssuerUnreachable(f"{url} could not be reached ({type(error).__name__})") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise IssuerUnavailable(f"the {what} at {url} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise IssuerUnavailable(f"the {what} at {url} is not JSON") from None


def discovery_fetch(
    issuer: str,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> dict:
    """The issuer's discovery document, fetched now; it must name exactly this issuer."""
    document = _get_json(
        discovery_url(issuer), "discovery document", timeout=timeout, session=session
    )
    if not isinstance(document, dict):
        raise IssuerUnavailable("the discovery document is not a JSON object")
    # OpenID Connect Discovery 1.0 §4.3: the document must name exactly this issuer.
    if document.get("issuer") != issuer:
        raise IssuerUnavailable(
            f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}"
        )
    return document


def _issuer_name(issuer: str | _NamesIssuer) -> str:
    return issuer if isinstance(issuer, str) else issuer.issuer


class JwksCache:
    """Per-issuer JWKS cache: fresh for `fresh_for`, a stale copy kept up to `stale_for` while
    the issuer is unreachable, and an unknown `kid` refetched at most once per
    `unknown_kid_interval` per issuer (defaults: 6 h, 2 days, 1 minute).

    `discover(issuer)` returns the issuer's discovery document (default: fetched each time
    the keys are; the portal passes its cached one, accounts.idps.discovery_document).
    Thread-safe: readers take no lock on the fast path; fetches for one issuer are serialised.
    """

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        fresh_for: float = FRESH_FOR,
        stale_for: float = STALE_FOR,
        unknown_kid_interval: float = UNKNOWN_KID_INTERVAL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        discover: Callable[[str], dict] | None = None,
    ) -> None:
        self._session = session or requests.Session()
        self._clock = clock
        self._fresh_for = fresh_for
        self._stale_for = stale_for
        self._retry_after = unknown_kid_interval
        self._timeout = timeout
        self._discover = discover or (
            lambda issuer: discovery_fetch(issuer, timeout=self._timeout, session=self._session)
        )
        self._states: dict[str, _IssuerState] = {}
        self._states_lock = threading.Lock()

    def _state(self, issuer: str) -> _IssuerState:
        state = self._states.get(issuer)
        if state is None:
            with self._states_lock:
                state = self._states.setdefault(issuer, _IssuerState())
        return state

    def forget(self) -> None:
        """Drop every cached key set (tests, and check_idps for a fresh look)."""
        with self._states_lock:
            self._states.clear()

    def lookup(self, issuer: str | _NamesIssuer, kid: str | None) -> KeyLookup:
        """The key `kid` of `issuer`; `kid` None finds the key of a set that holds only one."""
        name = _issuer_name(issuer)
        state = self._state(name)
        entry = state.entry
        now = self._clock()
        if entry is not None and now - entry.fetched_at < self._fresh_for:
            key = _pick(entry.keys, kid)
            if key is not None:
                return KeyLookup(key, fetched_at=entry.fetched_at, age=now - entry.fetched_at)
        with state.lock:
            return self._lookup_locked(name, state, kid)

    def _lookup_locked(self, issuer: str, state: _IssuerState, kid: str | None) -> KeyLookup:
        now = self._clock()
        entry = state.entry
        fetched_now = False
        if (
            entry is None
            or now - entry.fetched_at >= self._fresh_for
            or _pick(entry.keys, kid) is None
        ):
            fetched_now = self._refresh(issuer, state, now)
            entry = state.entry
        if entry is None or now - entry.fetched_at >= self._stale_for:
            return KeyLookup(None, error=state.last_error or "no keys have been fetched yet")
        stale = now - entry.fetched_at >= self._fresh_for
        error = None if fetched_now else state.last_error
        key = _pick(entry.keys, kid)
        return KeyLookup(
            key,
            known_kids=tuple(sorted(entry.keys)),
            fetched_at=entry.fetched_at,
            age=now - entry.fetched_at,
            stale=stale,
            error=error if stale or key is None else None,
        )

    def _refresh(self, issuer: str, state: _IssuerState, now: float) -> bool:
        """Fetch unless a fetch was tried within the retry interval; True when new keys came."""
        if now - state.last_attempt < self._retry_after:
            return False
        state.last_attempt = now
        try:
            keys, jwks_uri = self._fetch(issuer)
        except IssuerUnavailable as error:
            state.last_error = str(error)
            return False
        state.entry = _Entry(keys, now, jwks_uri)
        state.last_error = None
        return True

    def warm(self, issuer: str | _NamesIssuer) -> tuple[str, ...]:
        """Fetch the issuer's keys now (start-up, check_idps, tests); return the known kids.

        Raises IssuerUnavailable when they cannot be had.
        """
        name = _issuer_name(issuer)
        state = self._state(name)
        with state.lock:
            keys, jwks_uri = self._fetch(name)
            state.entry = _Entry(keys, self._clock(), jwks_uri)
            state.last_attempt = self._clock()
            state.last_error = None
            return tuple(sorted(keys))

    def _fetch(self, issuer: str) -> tuple[dict[str, SigningKey], str]:
        discovery = self._discover(issuer)
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise IssuerUnavailable("the discovery document has no jwks_uri")
        document = _get_json(jwks_uri, "JWKS", timeout=self._timeout, session=self._session)
        return signing_keys_from_jwks(document), jwks_uri


def _pick(keys: dict[str, SigningKey], kid: str | None) -> SigningKey | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None
