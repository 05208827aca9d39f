"""Bearer-token checks for the loopback SCIM service, against a real OpenID provider.

A verifier is any callable `verify_bearer(token) -> bool`. It may raise InsufficientScope
for a valid token that lacks `scim:read`; the service then answers 403 as IAM does.
JwtBearerVerifier is the real one: the dev IdP's client_credentials tokens are JWTs that
node-oidc-provider cannot introspect (devidp/README.md), so they are checked locally against
the keys at the issuer's jwks_uri, with iss, aud (the IdP's scim_audience) and exp.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable

import jwt
import requests

log = logging.getLogger(__name__)

BearerVerifier = Callable[[str], bool]
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
)
REQUIRED_SCOPE = "scim:read"


class InsufficientScope(Exception):
    """The token is valid but does not carry the scope the SCIM API needs."""


def _scopes(claims: dict) -> set[str]:
    scope = claims.get("scope", "")
    found = set(scope.split()) if isinstance(scope, str) else set(scope or ())
    scp = claims.get("scp")
    if isinstance(scp, list):
        found.update(scp)
    elif isinstance(scp, str):
        found.update(scp.split())
    return found


def discover(issuer: str, timeout: float = 5) -> dict:
    """The provider's discovery document, refused if it names another issuer."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    document = response.json()
    if document.get("issuer") != issuer:
        raise ValueError(f"{url} names issuer {document.get('issuer')!r}, expected {issuer!r}")
    return document


class JwtBearerVerifier:
    """JWT access tokens signed by the issuer (keys only from its discovery jwks_uri)."""

    def __init__(
        self,
        issuer: str,
        *,
        audience: str | Iterable[str] | None = None,
        required_scope: str = REQUIRED_SCOPE,
        jwks_uri: str | None = None,
        leeway: float = 0,
    ):
        self.issuer = issuer
        self.audience = (
            audience if audience is None or isinstance(audience, str) else list(audience)
        )
        self.required_scope = required_scope
        self.leeway = leeway
        self._jwks_uri = jwks_uri
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                uri = self._jwks_uri or discover(self.issuer)["jwks_uri"]
                self._jwks = jwt.PyJWKClient(uri, cache_jwk_set=True, lifespan=300, timeout=5)
            return self._jwks

    def __call__(self, token: str) -> bool:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ASYMMETRIC_ALGORITHMS:
                return False
            key = self._client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ASYMMETRIC_ALGORITHMS),
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={
                    "require": ["exp", "iat", "iss"],
                    "verify_aud": self.audience is not None,
                },
            )
        except (jwt.PyJWTError, requests.RequestException, ValueError, KeyError) as exc:
            log.info("SCIM service refused a bearer token: %s", exc)
            return False
        if self.required_scope and self.required_scope not in _scopes(claims):
            raise InsufficientScope(self.required_scope)
        return True


class StaticBearerVerifier:
    """Accept exactly these tokens: for running the service by hand without a provider."""

    def __init__(self, tokens: Iterable[str]):
        self.tokens = frozenset(tokens)

    def __call__(self, token: str) -> bool:
        return any(hmac.compare_digest(token, known) for known in self.tokens)
