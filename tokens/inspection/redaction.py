"""What may be shown or logged about a token instead of the token itself."""

from __future__ import annotations

import hashlib

SHOWN_HEAD = 6
SHOWN_TAIL = 4


def fingerprint(raw: str) -> str:
    """`eyJhbG…Xk9w sha256:1a2b3c4d5e6f` — enough to recognise a token, useless to replay it.

    Short inputs show only the hash, so the shown characters never add up to the whole token.
    """
    text = raw.strip()
    short_hash = "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    if len(text) < 4 * (SHOWN_HEAD + SHOWN_TAIL):
        return short_hash
    return f"{text[:SHOWN_HEAD]}…{text[-SHOWN_TAIL:]} {short_hash}"
