"""`inspect_token`: every check of one token, in order, plus what it allows.

The token itself is never logged, stored or returned; only its fingerprint is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt

from . import checks as c
from . import profiles
from .capabilities import Capabilities, capabilities_of
from .checks import Check, Status
from .delegation import Actor, Delegation, delegation_of
from .issuers import ALLOWED_ALGORITHMS, JwksCache, TrustedIssuer, issuer_index
from .redaction import fingerprint
from .structure import (
    MAX_TOKEN_CHARS,
    StructureError,
    b64url_decode,
    clean_input,
    json_object,
    split_compact,
    too_large_message,
)

# PyJWT with an explicit allow-list: this PyJWS knows only the accepted algorithms. The token
# was already parsed strictly (structure.py), so only PyJWT's algorithm objects verify the
# signature here; PyJWS.decode_complete would parse everything a second time at 3x the cost.
_JWS = jwt.PyJWS(algorithms=sorted(ALLOWED_ALGORITHMS))


@dataclass(slots=True)
class Inspection:
    checks: list[Check]
    fingerprint: str
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    capabilities: Capabilities | None = None
    delegation: Delegation = field(default_factory=Delegation)
    issuer: TrustedIssuer | None = None

    @property
    def valid(self) -> bool:
        return not any(check.status is Status.FAIL for check in self.checks)

    @property
    def act_chain(self) -> tuple[Actor, ...]:
        return self.delegation.actors

    def check(self, check_id: str) -> Check | None:
        return next((item for item in self.checks if item.id == check_id), None)

    def statuses(self, check_id: str) -> list[Status]:
        return [item.status for item in self.checks if item.id == check_id]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for `--json` and htmx); never contains the token."""
        caps = self.capabilities
        return {
            "valid": self.valid,
            "fingerprint": self.fingerprint,
            "issuer": self.issuer.issuer if self.issuer else None,
            "checks": [
                {"id": x.id, "status": str(x.status), "explanation": x.explanation}
                for x in self.checks
            ],
            "header": self.header,
            "claims": self.claims,
            "capabilities": None
            if caps is None
            else {
                "base_path": caps.base_path,
                "storage": [
                    {"scope": g.scope, "operation": g.operation, "path": g.path}
                    for g in caps.storage
                ],
                "compute": list(caps.compute),
                "invalid": [{"scope": i.scope, "reason": i.reason} for i in caps.invalid],
                "other": list(caps.other),
                "groups": list(caps.groups),
                "groups_ignored": caps.groups_ignored,
            },
            "act_chain": [
                {"sub": a.sub, "iss": a.iss, "client_id": a.client_id} for a in self.act_chain
            ],
            "client_id": self.delegation.client_id,
            "azp": self.delegation.azp,
            "jti": self.delegation.jti,
        }


def _epoch(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


@dataclass(slots=True)
class _Parts:
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    signature: bytes | None = None
    signing_input: bytes = b""
    well_formed: bool = False


def _decode_parts(token: str, found: list[Check]) -> _Parts:
    """Decode what can be decoded, reporting every structural problem in one check."""
    parts = _Parts()
    try:
        header_b64, claims_b64, signature_b64 = split_compact(token)
    except StructureError as error:
        found.append(Check("structure", Status.FAIL, str(error)))
        return parts
    problems: list[str] = []
    try:
        parts.header = json_object(b64url_decode(header_b64, "header"), "header")
    except StructureError as error:
        problems.append(str(error))
    try:
        parts.claims = json_object(b64url_decode(claims_b64, "claims part"), "claims part")
    except StructureError as error:
        problems.append(str(error))
    try:
        parts.signature = b64url_decode(signature_b64, "signature")
    except StructureError as error:
        problems.append(str(error))
    if problems:
        found.append(Check("structure", Status.FAIL, " ".join(problems)))
        return parts
    parts.signing_input = f"{header_b64}.{claims_b64}".encode("ascii")
    parts.well_formed = True
    return parts


def _check_signature(parts: _Parts, issuer: TrustedIssuer, jwks: JwksCache) -> list[Check]:
    kid = parts.header["kid"]
    alg = parts.header["alg"]
    lookup = jwks.lookup(issuer, kid)
    found: list[Check] = []
    if lookup.stale:
        found.append(
            Check(
                "jwks",
                Status.WARN,
                "Using the issuer's keys fetched "
                f"{c.duration(lookup.age or 0)} ago because "
                f"the issuer cannot be reached now ({lookup.error}).",
            )
        )
    key = lookup.key
    if key is None:
        if not lookup.known_kids:
            text = (
                f"The issuer's keys could not be fetched ({lookup.error}), so the signature "
                "cannot be checked. Try again later or tell the issuer's operators."
            )
        else:
            text = (
                f"Key id {kid!r} is not among the issuer's published keys "
                f"({', '.join(lookup.known_kids)}). The token was signed by another key "
                "or another issuer, or the issuer rotated its keys."
            )
        found.append(Check("signature", Status.FAIL, text))
        return found
    refusal = key.refusal_for(alg)
    if refusal:
        found.append(
            Check("signature", Status.FAIL, f"The key cannot verify this token: {refusal}.")
        )
        return found
    try:
        algorithm = _JWS.get_algorithm_by_name(alg)
        prepared = algorithm.prepare_key(key.key)
    except (NotImplementedError, jwt.PyJWTError, TypeError, ValueError) as error:
        found.append(Check("signature", Status.FAIL, f"The key cannot verify {alg} ({error})."))
        return found
    too_short = algorithm.check_key_length(prepared)
    if too_short:
        found.append(Check("signature", Status.FAIL, f"The issuer's key is too weak: {too_short}"))
        return found
    if not algorithm.verify(parts.signing_input, prepared, parts.signature):
        found.append(
            Check(
                "signature",
                Status.FAIL,
                f"The signature does not match the issuer's "
                f"key {kid!r}: the token was altered or signed by someone else.",
            )
        )
        return found
    found.append(
        Check(
            "signature", Status.PASS, f"Signature verified with the issuer's key {kid!r} ({alg})."
        )
    )
    return found


def inspect_token(
    raw: str,
    *,
    issuers: Mapping[str, TrustedIssuer] | Iterable[TrustedIssuer],
    jwks: JwksCache,
    audience: str | None,
    expected_scope: str | None = None,
    now: float | datetime | None = None,
) -> Inspection:
    """Run every check on `raw` and describe what the token allows.

    `audience` is the target the person chose (a storage URL or `rucio`), `now` is seconds
    since the epoch or a datetime (defaults to the current time).
    """
    if len(raw) > MAX_TOKEN_CHARS:
        return Inspection(
            [Check("size", Status.FAIL, too_large_message(len(raw)))],
            fingerprint=f"({len(raw):,} characters, not read)",
        )
    token, had_prefix = clean_input(raw)
    found: list[Check] = []
    inspection = Inspection(found, fingerprint(token))
    if had_prefix:
        found.append(Check("input", Status.INFO, "Removed the `Bearer ` prefix before checking."))
    parts = _decode_parts(token, found)
    header, claims, well_formed = parts.header, parts.claims, parts.well_formed
    inspection.header, inspection.claims = header, claims
    if header is None or claims is None:
        if header is None and claims is None and "." not in token:
            found.append(
                profiles.refresh_warning()
                if len(token) >= 20
                else Check("input", Status.INFO, "The input is too short to be a token.")
            )
        return inspection
    if well_formed:
        found.append(
            Check(
                "structure",
                Status.PASS,
                "A well-formed signed JWT (three parts, JSON objects, no duplicate names).",
            )
        )
    moment = _epoch(now)

    alg_check = c.check_algorithm(header)
    found.append(alg_check)
    found.extend(c.check_header_parameters(header))
    iss_check, issuer = c.check_issuer(claims.get("iss"), issuer_index(issuers))
    found.append(iss_check)
    inspection.issuer = issuer
    kid_check = c.check_kid(header)
    if kid_check is not None:
        found.append(kid_check)
    if not well_formed or alg_check.status is Status.FAIL or kid_check is not None:
        found.append(
            Check(
                "signature",
                Status.FAIL,
                "The signature was not checked because of the problems above.",
            )
        )
    elif issuer is None:
        found.append(
            Check(
                "signature",
                Status.FAIL,
                "The signature was not checked: the issuer "
                "is not trusted, so its keys are never fetched.",
            )
        )
    else:
        found.extend(_check_signature(parts, issuer, jwks))

    found.append(c.check_expiry(claims, moment))
    for optional in (c.check_not_before(claims, moment), c.check_issued_at(claims, moment)):
        if optional is not None:
            found.append(optional)
    found.append(c.check_audience(claims.get("aud"), audience))
    scope_check = c.check_scope(claims.get("scope"), expected_scope)
    if scope_check is not None:
        found.append(scope_check)
    groups = claims.get("wlcg.groups")
    inspection.capabilities = capabilities_of(
        c.scope_items(claims.get("scope")) or (),
        groups=groups if isinstance(groups, list) else (),
        base_path=issuer.storage_base_path if issuer else "/",
    )
    found.extend(c.check_capabilities(inspection.capabilities))
    found.append(profiles.check_wlcg_profile(claims))
    found.append(profiles.check_rfc9068(header, claims))
    inspection.delegation = delegation_of(claims)
    if inspection.delegation.actors:
        chain = " ← ".join(actor.label for actor in inspection.delegation.actors)
        found.append(
            Check(
                "act",
                Status.INFO,
                f"Used on the subject's behalf by {chain} (current actor first).",
            )
        )
    for problem in inspection.delegation.problems:
        found.append(Check("act", Status.WARN, problem[0].upper() + problem[1:] + "."))
    kind = profiles.check_token_kind(header, claims)
    if kind is not None:
        found.append(kind)
    return inspection
