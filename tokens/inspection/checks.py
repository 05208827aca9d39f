"""The individual checks of a token, each giving one line a person can act on."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from .audience import RUCIO_AUDIENCE, WLCG_ANY_AUDIENCE, audience_values, normalise_audience
from .capabilities import Capabilities
from .issuers import ALLOWED_ALGORITHMS, TrustedIssuer

LEEWAY = 60
IGNORED_KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    status: Status
    explanation: str


def _when(timestamp: float) -> str:
    try:
        moment = time.gmtime(timestamp)
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", moment)
    except (OverflowError, OSError, ValueError):
        return f"{timestamp!r} (out of range)"


def duration(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


# 9999-12-31T23:59:59Z: beyond it a time cannot be printed or compared with a clock.
MAX_EPOCH_SECONDS = 253_402_300_799


def _number(value: Any) -> bool:
    """A number of seconds that can be a time: finite and within years 1 to 9999 either way
    (1e400, NaN or a 400-digit integer would overflow every conversion)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -MAX_EPOCH_SECONDS <= value <= MAX_EPOCH_SECONDS
    )


def check_algorithm(header: dict[str, Any]) -> Check:
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        return Check("alg", Status.FAIL, "The header names no signature algorithm (`alg`).")
    if alg.lower() == "none":
        return Check(
            "alg",
            Status.FAIL,
            "The token is not signed (alg `none`); anyone could have "
            "written it. Only signed tokens from a trusted issuer are accepted.",
        )
    if alg.upper().startswith("HS"):
        return Check(
            "alg",
            Status.FAIL,
            f"{alg} is a shared-secret (HMAC) algorithm. Issuers here "
            "sign with public-key algorithms only, so this token is refused; an HMAC "
            "token using an issuer's public key as the secret is a known forgery.",
        )
    if alg not in ALLOWED_ALGORITHMS:
        return Check(
            "alg",
            Status.FAIL,
            f"Algorithm {alg!r} is not accepted; accepted are "
            + ", ".join(sorted(ALLOWED_ALGORITHMS))
            + ".",
        )
    return Check("alg", Status.PASS, f"Signed with {alg}, an accepted public-key algorithm.")


def check_header_parameters(header: dict[str, Any]) -> list[Check]:
    found: list[Check] = []
    if "crit" in header or "b64" in header:
        found.append(
            Check(
                "crit",
                Status.FAIL,
                "The header marks extensions as critical (`crit`/"
                "`b64`); none are supported, so the token must be refused.",
            )
        )
    present = [name for name in IGNORED_KEY_HEADERS if name in header]
    if present:
        found.append(
            Check(
                "key_headers",
                Status.WARN,
                "The header carries "
                + ", ".join(present)
                + "; ignored: keys are taken only from the trusted issuer's jwks_uri, "
                "never from the token itself.",
            )
        )
    if "cty" in header:
        found.append(
            Check(
                "cty",
                Status.FAIL,
                "The header sets `cty` (a nested token); nested tokens are not accepted.",
            )
        )
    return found


def check_issuer(iss: Any, trusted: dict[str, TrustedIssuer]) -> tuple[Check, TrustedIssuer | None]:
    if not isinstance(iss, str) or not iss:
        return Check(
            "iss", Status.FAIL, "The token names no issuer (`iss`), so nothing can verify it."
        ), None
    issuer = trusted.get(iss)
    if issuer is not None:
        return Check("iss", Status.PASS, f"Issued by {issuer.label}, a trusted issuer."), issuer
    for candidate in trusted:
        if candidate.rstrip("/") == iss.rstrip("/"):
            return Check(
                "iss",
                Status.FAIL,
                f"Issuer {iss!r} differs from the trusted issuer "
                f"{candidate!r} only by a trailing slash. Issuers are compared as exact "
                "strings, so storage elements refuse it; fix the issuer configuration "
                "on one side.",
            ), None
    names = ", ".join(sorted(trusted)) or "none configured"
    return Check(
        "iss",
        Status.FAIL,
        f"Issuer {iss!r} is not trusted here (trusted: {names}); its keys were not fetched.",
    ), None


def check_kid(header: dict[str, Any]) -> Check | None:
    kid = header.get("kid")
    if kid is None:
        return Check(
            "kid",
            Status.FAIL,
            "The header has no key id (`kid`); the WLCG profile "
            "requires one to pick the issuer's key.",
        )
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        return Check("kid", Status.FAIL, "The key id (`kid`) is not a short string.")
    return None


def check_expiry(claims: dict[str, Any], now: float) -> Check:
    exp = claims.get("exp")
    if exp is None:
        return Check(
            "exp", Status.FAIL, "The token has no expiry (`exp`); access tokens here must expire."
        )
    if not _number(exp):
        return Check(
            "exp",
            Status.FAIL,
            "The expiry (`exp`) is not a number of seconds since 1970 before the year 10000.",
        )
    remaining = exp - now
    if remaining > 0:
        return Check("exp", Status.PASS, f"Expires in {duration(remaining)} ({_when(exp)}).")
    if remaining > -LEEWAY:
        return Check(
            "exp",
            Status.WARN,
            f"Expired {duration(remaining)} ago ({_when(exp)}); "
            "storage elements allow up to 60 s of clock skew, so get a new token now.",
        )
    return Check(
        "exp",
        Status.FAIL,
        f"Expired {duration(remaining)} ago ({_when(exp)}). Get a new token (or refresh it).",
    )


def check_not_before(claims: dict[str, Any], now: float) -> Check | None:
    nbf = claims.get("nbf")
    if nbf is None:
        return None
    if not _number(nbf):
        return Check(
            "nbf",
            Status.FAIL,
            "`nbf` (not before) is not a number of seconds since 1970 before the year 10000.",
        )
    if nbf > now + LEEWAY:
        return Check(
            "nbf",
            Status.FAIL,
            f"Not valid yet: usable from {_when(nbf)}, in "
            f"{duration(nbf - now)}. If that is wrong, a clock is off.",
        )
    return Check("nbf", Status.PASS, f"Valid since {_when(nbf)}.")


def check_issued_at(claims: dict[str, Any], now: float) -> Check | None:
    iat = claims.get("iat")
    if iat is None:
        return None
    if not _number(iat):
        return Check(
            "iat",
            Status.FAIL,
            "`iat` (issued at) is not a number of seconds since 1970 before the year 10000.",
        )
    if iat > now + LEEWAY:
        return Check(
            "iat",
            Status.FAIL,
            f"Issued in the future ({_when(iat)}, "
            f"{duration(iat - now)} from now): the issuer's clock or this server's is "
            "wrong, and the token is refused.",
        )
    return Check("iat", Status.PASS, f"Issued {duration(now - iat)} ago ({_when(iat)}).")


def check_audience(aud: Any, target: str | None) -> Check:
    values = audience_values(aud)
    if aud is None:
        return Check(
            "aud",
            Status.FAIL if target else Status.WARN,
            "The token has no audience (`aud`); WLCG storage elements refuse it.",
        )
    if values is None:
        return Check(
            "aud", Status.FAIL, "The audience (`aud`) is neither a string nor a list of strings."
        )
    shown = ", ".join(values)
    if WLCG_ANY_AUDIENCE in values:
        return Check(
            "aud",
            Status.WARN,
            f"The audience includes the wildcard {WLCG_ANY_AUDIENCE}: "
            "any service may accept this token, so anyone it leaks to can use it. "
            "Ask for a token with a specific audience.",
        )
    if target is None:
        return Check("aud", Status.INFO, f"Audience: {shown}. Choose a target to check it.")
    try:
        wanted = normalise_audience(target)
    except ValueError as error:
        return Check("aud", Status.FAIL, f"The target audience is not a valid URL: {error}")
    if wanted in values:
        return Check("aud", Status.PASS, f"The audience includes {wanted}.")
    for value in values:
        try:
            if normalise_audience(value) == wanted:
                return Check(
                    "aud",
                    Status.WARN,
                    f"The audience {value!r} equals {wanted} only "
                    "after normalisation; storage elements compare `aud` as an exact "
                    f"string and may refuse it. Ask for audience {wanted}.",
                )
        except ValueError:
            continue
    hint = (
        "Rucio needs audience `rucio`."
        if wanted == RUCIO_AUDIENCE
        else f"Ask the issuer for a token with audience {wanted}."
    )
    return Check("aud", Status.FAIL, f"The audience ({shown}) does not include {wanted}. {hint}")


def scope_items(scope: Any) -> list[str] | None:
    if scope is None:
        return []
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list) and all(isinstance(item, str) for item in scope):
        return list(scope)
    return None


def check_scope(scope: Any, expected: str | None) -> Check | None:
    """`expected` may name several space-separated scopes (Rucio's expected_scope); all must be
    present."""
    items = scope_items(scope)
    if items is None:
        return Check(
            "scope", Status.FAIL, "The `scope` claim is neither a string nor a list of strings."
        )
    if expected is None or not expected.split():
        if isinstance(scope, list):
            return Check(
                "scope",
                Status.WARN,
                "`scope` is a JSON list; RFC 8693 and the WLCG profile expect one "
                "space-separated string, and some services refuse a list.",
            )
        return None
    missing = [name for name in expected.split() if name not in items]
    if not missing:
        return Check("scope", Status.PASS, f"The scope includes {expected}.")
    return Check(
        "scope",
        Status.FAIL,
        f"The scope lacks {' '.join(missing)}; request the token with scope {expected}.",
    )


def check_capabilities(capabilities: Capabilities) -> list[Check]:
    found: list[Check] = []
    for bad in capabilities.invalid:
        status = Status.FAIL if bad.fatal else Status.WARN
        found.append(Check("capabilities", status, f"Scope {bad.scope!r} {bad.reason}."))
    if capabilities.groups_ignored:
        found.append(
            Check(
                "groups",
                Status.INFO,
                "wlcg.groups are ignored by storage because "
                "the token carries capability scopes (WLCG profile).",
            )
        )
    return found
