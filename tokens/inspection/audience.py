"""Audience targets: a storage endpoint URL (normalised per RFC 3986 §6) or a plain name."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit, urlunsplit

RUCIO_AUDIENCE = "rucio"
WLCG_ANY_AUDIENCE = "https://wlcg.cern.ch/jwt/v1/any"
DEFAULT_PORTS = {"http": 80, "https": 443}

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalise_percent(text: str) -> str:
    """RFC 3986 §6.2.2.1-2: upper-case escapes, decode escaped unreserved characters."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(0)[1:], 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(fix, text)


@functools.lru_cache(maxsize=256)
def normalise_audience(value: str) -> str:
    """Normalise a URL audience: scheme and host lower-case, default port and trailing slash
    dropped. Anything that is not a URL (`rucio`, a client id) is returned unchanged.
    """
    value = value.strip()
    if "://" not in value:
        return value
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port number.") from None
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    path = _normalise_percent(parts.path).rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def audience_values(aud: object) -> list[str] | None:
    """The `aud` claim as a list of strings, or None when it has another shape."""
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(item, str) for item in aud):
        return list(aud)
    return None
