"""Which kind of token this is: WLCG profile version and claims, RFC 9068, refresh or ID token."""

from __future__ import annotations

import re
from typing import Any

from .checks import Check, Status

WLCG_REQUIRED = ("sub", "iss", "exp", "iat", "jti", "aud", "wlcg.ver")
_WLCG_VERSION = re.compile(r"([0-9]+)\.([0-9]+)")


def check_wlcg_profile(claims: dict[str, Any]) -> Check:
    version = claims.get("wlcg.ver")
    missing = [name for name in WLCG_REQUIRED if name not in claims]
    if version is None:
        text = "Not a WLCG token (no `wlcg.ver`)"
        if missing:
            text += "; it lacks " + ", ".join(missing)
        return Check(
            "wlcg", Status.WARN, text + ". Storage that follows the WLCG profile may refuse it."
        )
    match = _WLCG_VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        return Check(
            "wlcg", Status.FAIL, f'`wlcg.ver` is {version!r}; it must be a string like "1.0".'
        )
    if match.group(1) != "1":
        return Check(
            "wlcg",
            Status.FAIL,
            f"WLCG profile version {version} is not supported "
            "(only 1.x); the profile says such tokens MUST be rejected.",
        )
    if missing:
        return Check(
            "wlcg",
            Status.FAIL,
            "WLCG profile "
            + version
            + ": required claim"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join(missing)
            + " missing.",
        )
    return Check(
        "wlcg", Status.PASS, f"Follows WLCG profile {version}; all required claims are present."
    )


def check_rfc9068(header: dict[str, Any], claims: dict[str, Any]) -> Check:
    typ = header.get("typ")
    is_at = isinstance(typ, str) and typ.lower() in ("at+jwt", "application/at+jwt")
    client = "client_id" in claims
    if is_at and client:
        return Check(
            "rfc9068",
            Status.INFO,
            f"An RFC 9068 access token (typ at+jwt, client_id {claims['client_id']!r}).",
        )
    parts = [f"typ is {typ!r}" if not is_at else "typ is at+jwt"]
    parts.append("client_id " + (repr(claims["client_id"]) if client else "absent"))
    return Check(
        "rfc9068",
        Status.INFO,
        "Not an RFC 9068 access token (" + ", ".join(parts) + "); for information only.",
    )


def check_token_kind(header: dict[str, Any], claims: dict[str, Any]) -> Check | None:
    kind = claims.get("typ")
    if isinstance(kind, str) and kind.lower() in ("refresh", "offline"):
        return refresh_warning()
    if str(header.get("alg", "")).lower() == "none" and "iss" not in claims:
        return refresh_warning()
    if "nonce" in claims or "at_hash" in claims or (isinstance(kind, str) and kind == "ID"):
        return Check(
            "token_kind",
            Status.WARN,
            "This looks like an ID token (it has "
            "`nonce`/`at_hash`). Services expect an access token; send that instead.",
        )
    return None


def refresh_warning() -> Check:
    return Check(
        "refresh_token",
        Status.WARN,
        "This looks like a refresh token. Refresh tokens "
        "are long-lived secrets for the issuer only: never paste them anywhere, and "
        "revoke this one at the issuer if it was shared.",
    )
