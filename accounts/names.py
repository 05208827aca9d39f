"""Account names: the one rule for what a name may be and how one is derived from a login.

A name is valid for Rucio (lowercase ASCII letters, digits, '-' and '_', at most 25
characters) and is a portable POSIX user name (never a leading '-'). Login, registration and
the SCIM sync all derive names here, so `jane.doe` becomes `jane_doe` whichever way the person
arrives. Pure Python: no Django.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

ACCOUNT_NAME_MAX = 25
ACCOUNT_NAME_RE = r"\A[a-z0-9_][a-z0-9_-]{0,24}\Z"
ACCOUNT_NAME_RULE = (
    "Use 1 to 25 characters: lowercase letters, digits, '-' and '_', not starting with '-' "
    "(Rucio's account name rule, and a portable POSIX user name)."
)
FALLBACK = "user"


def account_name_valid(name: str) -> bool:
    return isinstance(name, str) and re.fullmatch(ACCOUNT_NAME_RE, name) is not None


def account_name_base(text: str) -> str:
    """'José.Müller' -> 'jose_muller': ASCII-folded, lowercase, other characters as '_'.

    Empty when nothing usable is left (the caller then numbers "user").
    """
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9_-]+", "_", ascii_text.lower()).strip("_-")
    return name[:ACCOUNT_NAME_MAX].strip("_-")


def account_name_derive(text: str, *, taken: Callable[[str], bool]) -> str:
    """A free, valid account name from a user name (or e-mail local part).

    The base itself when free, else the base with a number (`jane_doe2`, `jane_doe3`, ...);
    without a usable base, `user1`, `user2`, ... `taken(name)` says whether a name is in use.
    """
    base = account_name_base(text)
    if base and not taken(base):
        return base
    stem, number = base or FALLBACK, 1 if not base else 2
    while True:
        suffix = str(number)
        candidate = stem[: ACCOUNT_NAME_MAX - len(suffix)] + suffix
        if not taken(candidate):
            return candidate
        number += 1
