"""Trusted issuers: whose tokens the inspector verifies, and where their area starts on storage.

Their signing keys come from the one key source, accounts.keys (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from accounts.keys import (
    ALLOWED_ALGORITHMS,
    IssuerUnavailable,
    JwksCache,
    KeyLookup,
    SigningKey,
    discovery_url,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "IssuerUnavailable",
    "JwksCache",
    "KeyLookup",
    "SigningKey",
    "TrustedIssuer",
    "issuer_index",
]


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer whose tokens Gatehouse will verify, and where its area starts on storage."""

    issuer: str
    storage_base_path: str = "/"
    name: str = ""

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ValueError("A trusted issuer needs its exact `iss` string.")
        if not self.storage_base_path.startswith("/"):
            raise ValueError(
                f"storage_base_path {self.storage_base_path!r} must be an absolute path "
                "such as '/' or '/vo'."
            )

    @property
    def discovery_url(self) -> str:
        return discovery_url(self.issuer)

    @property
    def label(self) -> str:
        return self.name or self.issuer


def issuer_index(issuers: Mapping[str, TrustedIssuer] | Iterable[TrustedIssuer]) -> dict:
    if isinstance(issuers, Mapping):
        return dict(issuers)
    return {item.issuer: item for item in issuers}
