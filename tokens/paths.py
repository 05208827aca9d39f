"""The issuer's view of storage paths, on the one path module (accounts.storage_paths), so
that tokens, "who can read this path" and the inspector never disagree about a path."""

from accounts.storage_paths import path_covers, path_join_base, path_normalise

__all__ = ["path_covers", "path_join", "path_relative", "storage_path"]


def storage_path(path: str) -> str:
    """Canonical absolute path without a trailing slash; ValueError (a sentence) otherwise.

    Refuses surrounding whitespace, '.', '..', empty segments, percent-encoded '.', '/', '\\'
    or NUL, backslashes and control characters, instead of repairing them.
    """
    if not isinstance(path, str):
        raise ValueError("A storage path is text such as /data/nightsky.")
    return path_normalise(path).rstrip("/") or "/"


def path_join(base_path: str, relative: str) -> str:
    """A scope path (relative to a storage element's base path) as a storage path."""
    return path_join_base(base_path, relative)


def path_relative(base_path: str, path: str) -> str | None:
    """`path` as seen from `base_path` ('/' for the base itself), or None when outside it."""
    if not path_covers(base_path, path):
        return None
    base = base_path.rstrip("/")
    return path[len(base) :] or "/"
