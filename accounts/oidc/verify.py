"""Strict checks of ID tokens (and signed userinfo) from a configured provider.

Closes mozilla-django-oidc's gaps: only asymmetric algorithms (RS/ES/PS), keys only from the
provider's discovery `jwks_uri` (never `jku`/`x5u`/`jwk` headers), `iss` exactly the provider's,
`aud` containing our client id, `exp`/`iat`/`nbf` with leeway, and the nonce.
"""

import jwt

from accounts.idps import IdentityProvider, key_source
from accounts.keys import ALLOWED_ALGORITHMS
from accounts.oidc import AGAIN, LoginRefused

LEEWAY = 60


def signing_key(provider: IdentityProvider, header: dict):
    """The provider's public key for this token header, from the one key source (accounts.keys:
    its discovery jwks_uri only, cached; an unknown kid looked up again at most once a minute).
    A header without kid is accepted only when the provider publishes exactly one key."""
    label = provider.label
    alg = header["alg"]
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    found = key_source().lookup(provider.issuer, kid)
    if found.key is None and not found.known_kids:
        raise LoginRefused(
            "jwks_unavailable",
            f"{label}'s signing keys could not be fetched. Try again in a few minutes.",
            status=503,
            detail=found.error or "",
        )
    refusal = found.key.refusal_for(alg) if found.key is not None else "not published"
    if refusal:
        raise LoginRefused(
            "unknown_key",
            f"The identity token from {label} is signed with a key {label} does not publish "
            f"for {alg}. {AGAIN}",
            detail=f"kid {kid!r}: {refusal}; published {', '.join(found.known_kids)}",
        )
    return found.key.key


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
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise LoginRefused(
            "bad_algorithm",
            f"The {what} from {label} is signed with {alg!r}, which this portal does not accept "
            "(only RSA and elliptic-curve signatures). Ask the provider's operators.",
            detail=f"alg {alg!r}",
        )
    key = signing_key(provider, header)
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
