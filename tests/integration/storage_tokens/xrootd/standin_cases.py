"""The token cases both verifiers (XRootD and the scitokens library) are asked about, with the
stand-in issuer. Paths are relative to the base path, as scopes are."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.harness.jwks_server import ec_key
from tests.harness.standin_issuer import TlsLoopbackIssuer
from tests.integration.storage_tokens.xrootd.checks import SCOPE
from tests.integration.storage_tokens.xrootd.conftest import AUDIENCE

EMBARGOED = "/c/embargoed.dat"
NEIGHBOUR = "/c42/neighbour.dat"  # a string-prefix neighbour of /c4
OTHER = "/d/other.dat"
FILES = {EMBARGOED: b"campaign c, embargoed\n", NEIGHBOUR: b"campaign c42\n", OTHER: b"d\n"}


@dataclass(frozen=True)
class Case:
    name: str
    scope: str
    operation: str  # storage.read (GET) or storage.create / storage.modify (PUT)
    path: str
    xrootd_status: int
    python_allowed: bool
    claims: dict[str, Any] = field(default_factory=dict)
    kid: str = "ec1"
    forged: bool = False
    headers: dict[str, Any] = field(default_factory=dict)
    # Why XRootD refuses: SCOPE (a valid token whose scopes do not cover the request) or the
    # words scitokens-cpp logs for the token error.
    refusal: str = ""

    def token(self, issuer: TlsLoopbackIssuer) -> str:
        claims = issuer.claims(aud=AUDIENCE, scope=self.scope, jti=str(uuid.uuid4()))
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = ec_key() if self.forged else None  # same kid, a key the issuer never published
        return issuer.sign(claims, kid=self.kid, key=key, headers=self.headers)


def _expired() -> dict[str, int]:
    now = int(time.time())
    return {"iat": now - 1400, "nbf": now - 1400, "exp": now - 200}


def new_name() -> str:
    return f"/c/upload-{uuid.uuid4().hex}.dat"


READ_CASES = [
    Case("scope covers the directory", "storage.read:/c", "storage.read", EMBARGOED, 200, True),
    Case("per-file scope", f"storage.read:{EMBARGOED}", "storage.read", EMBARGOED, 200, True),
    Case("RS256 key", "storage.read:/c", "storage.read", EMBARGOED, 200, True, kid="rsa1"),
    Case(
        "pre-published next key",
        "storage.read:/c",
        "storage.read",
        EMBARGOED,
        200,
        True,
        kid="ec-next",
    ),
    Case(
        "scope for another path",
        "storage.read:/d",
        "storage.read",
        EMBARGOED,
        403,
        False,
        refusal=SCOPE,
    ),
    Case(
        "wrong audience",
        "storage.read:/c",
        "storage.read",
        EMBARGOED,
        403,
        False,
        claims={"aud": "https://other-storage.example.org"},
        refusal="'aud' claim verification failed",
    ),
    Case(
        "expired",
        "storage.read:/c",
        "storage.read",
        EMBARGOED,
        403,
        False,
        claims=_expired(),
        refusal="token expired",
    ),
    Case(
        "forged: same kid, other key",
        "storage.read:/c",
        "storage.read",
        EMBARGOED,
        403,
        False,
        forged=True,
        refusal="Invalid signature",
    ),
    Case(
        "create scope does not read",
        "storage.create:/c",
        "storage.read",
        EMBARGOED,
        403,
        False,
        refusal=SCOPE,
    ),
    # Documented fact, not a wish: XRootD 5.5 matches scope paths as plain string prefixes, so a
    # scope for /c4 opens /c42; the scitokens library matches by path segment and refuses.
    Case("string prefix /c4 opens /c42", "storage.read:/c4", "storage.read", NEIGHBOUR, 200, False),
]

UPLOAD_CASES = [
    Case("create a new file", "storage.create:/c", "storage.create", "", 200, True),
    Case(
        "read scope cannot upload",
        "storage.read:/c",
        "storage.create",
        "",
        403,
        False,
        refusal=SCOPE,
    ),
    Case(
        "create scope for another path",
        "storage.create:/d",
        "storage.create",
        "",
        403,
        False,
        refusal=SCOPE,
    ),
]
