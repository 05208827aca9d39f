"""The `scitokens` Python library (PyPI) as a second, independent verifier of storage tokens.

It fetches the issuer's discovery document and JWKS itself (urllib, HTTPS only), checks the
signature and `exp`/`nbf` while deserializing, then its `Enforcer` checks issuer, audience and
scope. Its `Validator` refuses any claim it has no validator for, so the WLCG claims the library
does not know (`wlcg.ver`, `client_id`, `act`) get one here: `wlcg.ver` must be "1.0", the others
are informational.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import scitokens
from scitokens.utils import keycache

WLCG_VERSION = "1.0"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


@contextlib.contextmanager
def scitokens_environment(*, ca_file: Path, cache_dir: Path) -> Iterator[None]:
    """Trust `ca_file` for HTTPS and keep the library's key cache in `cache_dir`, for this block.

    urllib reads SSL_CERT_FILE on every new TLS context; the library's key cache is a process-wide
    singleton that picks its sqlite file from XDG_CACHE_HOME when first made, so it is reset on
    the way in and out.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(ca_file))
        patch.setenv("XDG_CACHE_HOME", str(cache_dir))
        patch.setattr(keycache, "KEYCACHE_INSTANCE", None)
        # The library logs every refused key fetch at ERROR; the verdict carries the reason.
        patch.setattr(logging.getLogger("scitokens"), "disabled", True)
        yield


def python_verify(token: str, *, issuer: str, audience: str, operation: str, path: str) -> Verdict:
    """May `token` do `operation` (e.g. "storage.read") on `path` (relative to the base path)?"""
    try:
        parsed = scitokens.SciToken.deserialize(token)
    except Exception as exc:  # the library raises PyJWT's and its own errors alike
        return Verdict(False, f"deserialize: {type(exc).__name__}: {exc}")
    enforcer = scitokens.Enforcer(issuer, audience=audience)
    enforcer.add_validator("wlcg.ver", lambda value: value == WLCG_VERSION)
    enforcer.add_validator("client_id", lambda value: isinstance(value, str))
    enforcer.add_validator("act", lambda value: isinstance(value, dict))
    if enforcer.test(parsed, operation, path):
        return Verdict(True, "allowed")
    return Verdict(False, f"enforcer: {enforcer.last_failure}")
