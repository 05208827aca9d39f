"""Writing an export to a file so that a reader never sees half of it.

The new content goes to a temporary file in the same directory, is flushed and fsynced, and
replaces the old file by rename; the directory is fsynced after. The new file's mtime is made
later than the old one's, because dCache re-reads a multimap file only when its mtime changes.
"""

import hashlib
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from campaigns.exports.base import ExportError, chunked

LINES_PER_PASS = 400_000
NEW_FILE_MODE = 0o644


class ExportRefused(ExportError):
    """The new file would remove too much of the old one; nothing was changed."""


@dataclass(frozen=True)
class WriteResult:
    lines: int
    added: int
    removed: int
    replaced: bool


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def _scan(path: Path) -> tuple[int, str]:
    """Line count and SHA-256 of a file."""
    digest = hashlib.sha256()
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            count += 1
    return count, digest.hexdigest()


def count_changes(old: Path, new: Path, old_lines: int, new_lines: int) -> tuple[int, int]:
    """(added, removed) lines, as multisets; in several passes over hash buckets for big
    files, so memory stays bounded by LINES_PER_PASS entries."""
    passes = max(1, math.ceil(max(old_lines, new_lines) / LINES_PER_PASS))
    added = removed = 0
    for bucket in range(passes):
        remaining: Counter = Counter()
        for line in _lines(old):
            key = hash(line)
            if key % passes == bucket:
                remaining[key] += 1
        for line in _lines(new):
            key = hash(line)
            if key % passes == bucket:
                if remaining[key] > 0:
                    remaining[key] -= 1
                else:
                    added += 1
        removed += sum(remaining.values())
    return added, removed


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_mtime_past(path: Path, old_mtime_ns: int) -> None:
    """Make path's mtime later than old_mtime_ns, also on filesystems with coarse timestamps."""
    for step in (1_000_000, 1_000_000_000, 2_000_000_000):
        stat = path.stat()
        if stat.st_mtime_ns > old_mtime_ns:
            return
        os.utime(path, ns=(stat.st_atime_ns, old_mtime_ns + step))


def write_atomically(
    path: Path, lines: Iterable[str], *, max_drop: float, force: bool = False
) -> WriteResult:
    """Replace `path` with `lines` unless that would remove more than `max_drop` of its lines.

    Raises ExportRefused (too much removed) or ExportError (cannot write); either way the old
    file is left as it was.
    """
    path = Path(path)
    directory = path.parent
    try:
        old_stat = path.stat() if path.exists() else None
        old_lines, old_digest = _scan(path) if old_stat else (0, "")
    except OSError as exc:
        raise ExportError(f"Cannot read the current {path} ({exc.strerror}).") from exc
    try:
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ExportError(
            f"Cannot create a file in {directory} ({exc.strerror}): check that the directory "
            "exists and that this user may write to it."
        ) from exc
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        new_lines = 0

        def counted() -> Iterator[str]:
            nonlocal new_lines
            for line in lines:
                new_lines += 1
                yield line

        with os.fdopen(fd, "wb") as handle:
            for block in chunked(counted()):
                digest.update(block)
                handle.write(block)
            handle.flush()
            os.fchmod(handle.fileno(), old_stat.st_mode & 0o7777 if old_stat else NEW_FILE_MODE)
            os.fsync(handle.fileno())
        if old_stat and digest.hexdigest() == old_digest:
            temp.unlink()
            return WriteResult(lines=new_lines, added=0, removed=0, replaced=False)
        if old_stat:
            added, removed = count_changes(path, temp, old_lines, new_lines)
        else:
            added, removed = new_lines, 0
        if old_lines and removed / old_lines > max_drop and not force:
            raise ExportRefused(
                f"Not replacing {path}: the new export removes {removed} of its {old_lines} "
                f"lines ({removed / old_lines:.0%}, more than the {max_drop:.0%} allowed). "
                "If that is intended, run again with --force."
            )
        if old_stat:
            _move_mtime_past(temp, old_stat.st_mtime_ns)
        os.replace(temp, path)
        _fsync_directory(directory)
        return WriteResult(lines=new_lines, added=added, removed=removed, replaced=True)
    except OSError as exc:
        raise ExportError(
            f"Could not write {path} ({exc.strerror}); it was left as it was."
        ) from exc
    finally:
        temp.unlink(missing_ok=True)
