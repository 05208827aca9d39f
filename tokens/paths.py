"""The storage-path rules the issuer uses, in one place the lead can repoint.

They call the existing segment-path helpers (campaigns/selectors.py for the access rule's
canonical form, tokens/inspection/capabilities.py for its stricter refusals of encoded
traversal) so that the issuer and "who can read this path" never disagree about a path.
"""

from campaigns.selectors import path_covers as _segment_covers
from campaigns.selectors import path_normalise
from tokens.inspection.capabilities import normalise_path


def storage_path(path: str) -> str:
    """Canonical absolute path without a trailing slash; ValueError (a sentence) otherwise.

    Refuses '.', '..', empty segments, percent-encoded '.', '/', '\\' or NUL, backslashes and
    control characters, instead of repairing them.
    """
    if not isinstance(path, str):
        raise ValueError("A storage path is text such as /data/nightsky.")
    return path_normalise(normalise_path(path.strip()))


def path_covers(prefix: str, path: str) -> bool:
    """Whole segments: '/foo' covers '/foo' and '/foo/bar', never '/foobar'."""
    return _segment_covers(prefix, path)


def path_join(base_path: str, relative: str) -> str:
    """A scope path (relative to a storage element's base path) as a storage path."""
    base = base_path.rstrip("/")
    return relative if not base else (base if relative == "/" else base + relative)


def path_relative(base_path: str, path: str) -> str | None:
    """`path` as seen from `base_path` ('/' for the base itself), or None when outside it."""
    if not path_covers(base_path, path):
        return None
    base = base_path.rstrip("/")
    return path[len(base) :] or "/"
