"""Storage paths: the one set of rules for writing, comparing and covering them.

Used by token capabilities (tokens.inspection) and by "who can read this path" (campaigns), so
both give the same answer. Pure Python: imports nothing from Django (the inspection library
imports it).

The rules (WLCG Common JWT Profile v1.2, "Capability-based Authorization: scope"):
- a path is absolute; `.`/`..`/empty segments, backslashes, control characters and
  percent-encoded traversal (`%2e`, `%2f`, `%5c`, `%00`) are refused, never repaired;
  other percent-escapes are decoded;
- the one trailing-slash rule: a trailing `/` marks a directory and is kept. `/foo/` covers
  `/foo/` and what lies below it, not a file named `/foo`; `/foo` covers `/foo`, `/foo/` and
  what lies below;
- matching is by whole segments: `/foo` covers `/foo/bar`, never `/foobar`.

XRootD's SciTokens plugin does not follow the last rule: it matches plain string prefixes
(`/c4` also opens `/c42`); `path_is_string_prefix` answers that question.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# Percent-encoded dot, slash, backslash or NUL would let a path escape after decoding.
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


class PathRejected(ValueError):
    """A path that cannot be matched safely; the message says why."""


def path_normalise(path: str) -> str:
    """Return the canonical absolute path, keeping one trailing slash if present.

    Raises PathRejected (with a sentence saying what is wrong) instead of repairing a path.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise PathRejected(f"{path!r} is not an absolute path: start it with '/'")
    if _ENCODED_TRAVERSAL.search(path):
        raise PathRejected(
            f"{path!r} contains a percent-encoded '.', '/', '\\' or NUL, "
            "which could be used to step outside the allowed directory"
        )
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise PathRejected(f"{path!r} percent-encodes bytes that are not UTF-8") from None
    if _CONTROL.search(decoded):
        raise PathRejected(f"{path!r} contains a backslash or a control character")
    if not decoded.isprintable():  # a lone surrogate, a line or paragraph separator, ...
        raise PathRejected(f"{path!r} contains a broken or invisible character")
    if decoded == "/":
        return "/"
    is_directory = decoded.endswith("/")
    segments = decoded.strip("/").split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            shown = f"a {segment!r} segment" if segment else "an empty segment ('//')"
            raise PathRejected(f"{path!r} contains {shown}: write the path out in full")
    canonical = "/" + "/".join(segments)
    return canonical + "/" if is_directory else canonical


def path_segments(path: str) -> list[str]:
    """'/a/b/' -> ['a', 'b'] for a normalised path."""
    return [segment for segment in path.split("/") if segment]


def path_prefixes(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b', '/a/b/c']: every whole-segment prefix (no trailing '/')."""
    segments = path_segments(path)
    return ["/"] + ["/" + "/".join(segments[:i]) for i in range(1, len(segments) + 1)]


def path_covers_why(grant: str, path: str) -> tuple[bool, str]:
    """Does `grant` cover `path` (both normalised)? Returns (answer, a sentence saying why)."""
    if grant == "/":
        return True, "'/' covers the whole area"
    directory = grant.endswith("/")
    root = grant.rstrip("/")
    if path == root:
        if directory:
            return False, (
                f"{grant} ends with '/', so it covers the directory {root}/ and what is "
                f"below it, not a file named {root}"
            )
        return True, f"{path} is exactly {grant}"
    if path.startswith(root + "/"):
        return True, f"{path} is inside {root}/"
    return False, f"{path} is not {root} or below it (paths match by whole segments)"


def path_covers(grant: str, path: str) -> bool:
    """Whole segments: '/foo' covers '/foo' and '/foo/bar', never '/foobar' (both normalised)."""
    return path_covers_why(grant, path)[0]


def path_depth(path: str) -> int:
    """How specific a prefix is: the number of its segments ('/' is 0)."""
    return len(path_segments(path))


def path_join_base(base_path: str, path: str) -> str:
    """Place a normalised path inside a (normalised) base path, e.g. an issuer's area."""
    base = base_path.rstrip("/")
    if path == "/":
        return base or "/"
    return base + path


def path_is_string_prefix(prefix: str, path: str) -> bool:
    """Would a plain string-prefix matcher (XRootD's SciTokens plugin) let `prefix` open `path`?

    Both normalised; the prefix's trailing '/' is dropped first, as the plugin does, so
    `/c4` and `/c4/` both open `/c42`.
    """
    return path.startswith(prefix.rstrip("/"))
