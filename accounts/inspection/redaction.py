"""What may be shown or logged about a token instead of the token itself."""

from __future__ import annotations

import hashlib

SHOWN_HEAD = 6
SHOWN_TAIL = 4


def token_digest(raw: str) -> str:
    """Full SHA-256 hex of the token text, for matching a pasted token to a stored row."""
    return hashlib.sha256(raw.strip().encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(raw: str) -> str:
    """`eyJhbG…Xk9w sha256:1a2b3c4d5e6f` — enough to recognise a token, useless to replay it.

    Short inputs show only the hash, so the shown characters never add up to the whole token.
    """
    text = raw.strip()
    short_hash = "sha256:" + token_digest(text)[:12]
    if len(text) < 4 * (SHOWN_HEAD + SHOWN_TAIL):
        return short_hash
    return f"{text[:SHOWN_HEAD]}…{text[-SHOWN_TAIL:]} {short_hash}"
