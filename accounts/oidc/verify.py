"""Strict checks of ID tokens (and signed userinfo) from a configured provider.

Closes mozilla-django-oidc's gaps: only asymmetric algorithms (RS/ES/PS), keys only from the
provider's discovery `jwks_uri` (never `jku`/`x5u`/`jwk` headers), `iss` exactly the provider's,
`aud` containing our client id, `exp`/`iat`/`nbf` with leeway, and the nonce.
"""

import jwt
import requests
from django.core.cache import cache
from jwt.exceptions import PyJWKError

from accounts.idps import IdentityProvider
from accounts.oidc import AGAIN, LoginRefused

ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
LEEWAY = 60
JWKS_TTL = 3600
HTTP_TIMEOUT = 5


def _key_set(provider: IdentityProvider, jwks_uri: str, *, refresh: bool = False) -> dict:
    """The provider's JWKS document, cached like its discovery document."""
    cache_key = f"oidc-jwks:{jwks_uri}"
    document = None if refresh else cache.get(cache_key)
    if document is not None:
        return document
    try:
        response = requests.get(jwks_uri, timeout=HTTP_TIMEOUT, allow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginRefused(
            "jwks_unavailable",
            f"{provider.label}'s signing keys could not be fetched. Try again in a few minutes.",
            status=503,
            detail=f"{type(exc).__name__} from {jwks_uri}",
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise LoginRefused(
            "jwks_unavailable",
            f"{provider.label}'s key set is not a JWKS document. Try again later, or tell the "
            "portal's operators.",
            status=503,
        )
    cache.set(cache_key, document, JWKS_TTL)
    return document


def _candidates(key_set: dict, alg: str, kid: str | None) -> list[dict]:
    family = "EC" if alg.startswith("ES") else "RSA"
    return [
        jwk
        for jwk in key_set["keys"]
        if isinstance(jwk, dict)
        and jwk.get("kty") == family
        and jwk.get("use", "sig") == "sig"
        and jwk.get("alg") in (None, alg)
        and (kid is None or jwk.get("kid") == kid)
    ]


def signing_key(provider: IdentityProvider, document: dict, header: dict):
    """The provider's public key for this token header, from its discovery jwks_uri only."""
    label = provider.label
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise LoginRefused(
            "no_jwks_uri",
            f"{label} publishes no signing keys (its discovery document has no jwks_uri), so its "
            "login cannot be checked. Ask its operators, or use another provider.",
        )
    alg = header["alg"]
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    candidates = _candidates(_key_set(provider, jwks_uri), alg, kid)
    # A kid we have not seen may be a rotated key: look again, at most once a minute.
    if not candidates and kid and cache.add(f"oidc-jwks-refetch:{jwks_uri}", 1, 60):
        candidates = _candidates(_key_set(provider, jwks_uri, refresh=True), alg, kid)
    if len(candidates) != 1:
        raise LoginRefused(
            "unknown_key",
            f"The identity token from {label} is signed with a key {label} does not publish "
            f"for {alg}. {AGAIN}",
            detail=f"kid {kid!r}, {len(candidates)} matching keys",
        )
    try:
        key = jwt.PyJWK(candidates[0], algorithm=alg).key
    except PyJWKError as exc:
        raise LoginRefused(
            "bad_key", f"{label} publishes a signing key this portal cannot use.", detail=str(exc)
        ) from exc
    # A JWKS that (wrongly) publishes a private key: verify with its public half only.
    return key.public_key() if hasattr(key, "public_key") else key


_DECODE_ERRORS = [
    (jwt.ExpiredSignatureError, "expired", "has expired (a clock may be wrong)."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "is not valid yet (a clock may be wrong)."),
    (jwt.InvalidAudienceError, "bad_audience", "was issued for another application."),
    (jwt.InvalidIssuerError, "bad_issuer", "was issued by someone else than the provider."),
    (jwt.InvalidSignatureError, "bad_signature", "has a signature that does not verify."),
    (jwt.MissingRequiredClaimError, "missing_claim", "lacks a claim every login needs."),
]


def verify_jwt(
    provider: IdentityProvider,
    document: dict,
    token: str,
    *,
    what: str = "identity token",
    nonce: str | None = None,
    required: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat"),
) -> dict:
    """Check a JWT from `provider` for our client and return its claims, or raise LoginRefused.

    `required` claims must be present; signed userinfo needs only iss, sub and aud.
    """
    label = provider.label
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise LoginRefused(
            "malformed",
            f"The {what} from {label} could not be read. {AGAIN}",
            detail=str(exc),
        ) from exc
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise LoginRefused(
            "bad_algorithm",
            f"The {what} from {label} is signed with {alg!r}, which this portal does not accept "
            "(only RSA and elliptic-curve signatures). Ask the provider's operators.",
            detail=f"alg {alg!r}",
        )
    key = signing_key(provider, document, header)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=provider.client_id,
            issuer=provider.issuer,
            leeway=LEEWAY,
            options={"require": list(required), "strict_aud": False},
        )
    except jwt.InvalidTokenError as exc:
        reason, sentence = next(
            ((r, s) for kind, r, s in _DECODE_ERRORS if isinstance(exc, kind)),
            ("invalid_token", "is not valid."),
        )
        raise LoginRefused(
            reason, f"The {what} from {label} {sentence} {AGAIN}", detail=str(exc)
        ) from exc
    azp = claims.get("azp")
    if azp is not None and azp != provider.client_id:
        raise LoginRefused(
            "bad_audience",
            f"The {what} from {label} was issued for another application. {AGAIN}",
            detail=f"azp {azp!r}",
        )
    if nonce is not None and claims.get("nonce") != nonce:
        raise LoginRefused(
            "bad_nonce",
            f"The {what} from {label} does not belong to the login you started here (its nonce "
            f"differs). {AGAIN}",
        )
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise LoginRefused("missing_claim", f"The {what} from {label} names no subject. {AGAIN}")
    return claims
