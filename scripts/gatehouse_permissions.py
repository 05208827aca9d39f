#!/usr/bin/env python3
"""Make the owner, group and modes of campaign data on this node match Gatehouse's plan.

Runs on storage nodes and NFS clients without Gatehouse: Python >= 3.9, standard library only.
Install as /usr/local/bin/gatehouse-permissions. Reads the permission plan (format version 1,
see docs/storage-nodes.md) from Gatehouse over HTTP with a node token, or from a file, and for
each plan path under a --root walks the tree: files get the plan's file mode, directories its
directory mode, everything the plan's uid and gid.

Dry run unless --apply. Never follows a symlink (they are left alone), never leaves the --root
prefixes, skips plan paths missing on this node, keeps going when files vanish during the walk.
A second run changes nothing. The walk streams: memory does not grow with the number of files.
--incremental walks only the paths whose plan line changed since the last --apply run (the
previous plan and the ETag are kept in --state-dir).

Exit status: 0 done (or nothing to do), 1 some entries could not be changed, 2 plan refused.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import http.client
import os
import re
import stat
import sys
import tempfile
import urllib.error
import urllib.request

HEADER = "# gatehouse-permissions 1"
FIELDS = 9
PATH_RE = re.compile(r"/[A-Za-z0-9._+@%=,:~/-]*")
NAME_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
MODE_RE = re.compile(r"[0-7]{4}")
ID_RE = re.compile(r"[0-9]{1,10}")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|-")
WRITERS_RE = re.compile(r"-|[0-9]{1,10}(,[0-9]{1,10})*")
STATES = {"embargo", "public", "archived"}
MAX_ID = 2**32 - 2  # (uid_t)-1 means "leave unchanged" to chown
DIR_OPEN = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
FILE_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
O_PATH = (
    getattr(os, "O_PATH", 0) | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    if hasattr(os, "O_PATH")
    else 0
)
ETAG_FILE = "permissions.etag"
STATE_FILE = "permissions.state"


class PlanRefused(Exception):
    """The plan cannot be used at all; nothing was changed."""


class Entry:
    """One plan line."""

    __slots__ = ("path", "uid", "gid", "file_mode", "dir_mode", "campaign", "line")

    def __init__(self, path, uid, gid, file_mode, dir_mode, campaign, line):
        self.path, self.uid, self.gid = path, uid, gid
        self.file_mode, self.dir_mode, self.campaign, self.line = (
            file_mode,
            dir_mode,
            campaign,
            line,
        )


def parse_line(line: str, number: int) -> Entry:
    """One plan line, checked field by field (the plan is validated again on the node)."""
    fields = line.split(" ")
    if len(fields) != FIELDS:
        raise PlanRefused(f"line {number}: {len(fields)} fields, expected {FIELDS}: {line!r}")
    path, uid, gid, file_mode, dir_mode, campaign, embargo, state, writers = fields
    checks = (
        (PATH_RE, path, "path"),
        (ID_RE, uid, "uid"),
        (ID_RE, gid, "gid"),
        (MODE_RE, file_mode, "file mode"),
        (MODE_RE, dir_mode, "directory mode"),
        (NAME_RE, campaign, "campaign"),
        (DATE_RE, embargo, "embargo date"),
        (WRITERS_RE, writers, "writers"),
    )
    for pattern, value, what in checks:
        if not pattern.fullmatch(value):
            raise PlanRefused(f"line {number}: bad {what} {value!r}")
    if state not in STATES:
        raise PlanRefused(f"line {number}: bad state {state!r}")
    fmode, dmode = int(file_mode, 8), int(dir_mode, 8)
    if fmode & ~0o777 or dmode & ~0o3777:
        raise PlanRefused(
            f"line {number}: mode {file_mode}/{dir_mode} sets setuid, or setgid/sticky on files"
        )
    if int(uid) > MAX_ID or int(gid) > MAX_ID:
        raise PlanRefused(f"line {number}: uid or gid out of range")
    return Entry(path, int(uid), int(gid), fmode, dmode, campaign, line)


def parse_plan(lines) -> list[Entry]:
    """Entries from an iterable of text lines; PlanRefused unless the whole plan is sound."""
    entries = []
    header_seen = False
    last = ""
    for number, raw in enumerate(lines, 1):
        last = raw
        line = raw.rstrip("\n")
        if not header_seen:
            if line != HEADER:
                raise PlanRefused(
                    f"the first line is {line[:60]!r}, not {HEADER!r}: this applier reads "
                    "format version 1 only; update it, or check the URL."
                )
            header_seen = True
            continue
        if not line or line.startswith("#"):
            continue
        entries.append(parse_line(line, number))
    if not header_seen:
        raise PlanRefused("the plan is empty: no version header.")
    if not last.endswith("\n"):
        raise PlanRefused("the plan's last line is cut off: the transfer was incomplete.")
    return entries


def fetch_plan(url: str, token_file: str, etag: str | None, timeout: float):
    """(lines, new ETag) from Gatehouse, or (None, etag) when unchanged (304)."""
    with open(token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    if token.lower().startswith("authorization:"):
        token = token.split(":", 1)[1].strip()
    if not token.lower().startswith("bearer "):
        token = "Bearer " + token
    # Only http(s) URLs get here (checked in arguments()).
    request = urllib.request.Request(url, headers={"Authorization": token})  # noqa: S310
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read().decode("utf-8")
            return body.splitlines(keepends=True), response.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return None, etag
        detail = exc.read(500).decode("utf-8", "replace").strip()
        raise PlanRefused(f"{url} answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise PlanRefused(f"cannot fetch {url}: {exc}") from exc


def under_root(path: str, roots: list[str]) -> str | None:
    """The root prefix (whole segments) holding `path`, or None."""
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


class Stats:
    __slots__ = ("checked", "changed", "symlinks", "vanished", "other", "failed")

    def __init__(self):
        self.checked = self.changed = self.symlinks = self.vanished = self.other = self.failed = 0


class Applier:
    """Walk plan paths and make them match; `before_stat` is a test hook: called with the
    directory and entry name after the directory was listed and before the entry is looked at."""

    def __init__(self, *, roots, apply, verbose, out=sys.stdout):
        self.roots = [r.rstrip("/") or "/" for r in roots]
        self.apply, self.verbose, self.out = apply, verbose, out
        self.stats = Stats()
        self.before_stat = None
        self.notes: list[str] = []
        self.plan_paths: set[str] = set()

    def note(self, message: str) -> None:
        self.notes.append(message)
        print(f"note: {message}", file=self.out)

    def select(self, entries: list[Entry]) -> list[Entry]:
        """The entries this node may apply: under a root, no '..', no duplicate path."""
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.path] = counts.get(entry.path, 0) + 1
        chosen = []
        for entry in entries:
            segments = entry.path.split("/")[1:]
            if any(s in ("", ".", "..") for s in segments):
                self.note(f"refused {entry.path}: not a clean path ('..', '.' or '//')")
            elif under_root(entry.path, self.roots) is None:
                self.note(f"refused {entry.path}: outside the roots {', '.join(self.roots)}")
            elif counts[entry.path] > 1:
                self.note(f"refused {entry.path}: it is in the plan twice; ask the portal admin")
            else:
                chosen.append(entry)
        self.plan_paths = {e.path for e in chosen}
        return chosen

    def walk(self, entry: Entry) -> bool:
        """Apply one plan path. False when the path is missing or could not be opened."""
        root = under_root(entry.path, self.roots)
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            self.note(f"skipped {entry.path}: root {root} cannot be opened ({exc.strerror})")
            return False
        parts = [p for p in entry.path[len(root) :].split("/") if p]
        here = root
        try:
            for i, name in enumerate(parts):
                last = i == len(parts) - 1
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    self.note(f"skipped {entry.path}: {here}/{name} does not exist on this node")
                    return False
                if stat.S_ISLNK(st.st_mode):
                    self.note(f"skipped {entry.path}: {here}/{name} is a symlink, not followed")
                    return False
                if last and stat.S_ISREG(st.st_mode):
                    self._file(fd, name, f"{here}/{name}", st, entry)
                    return True
                if not stat.S_ISDIR(st.st_mode):
                    self.note(f"skipped {entry.path}: {here}/{name} is not a directory")
                    return False
                try:
                    child = os.open(name, DIR_OPEN, dir_fd=fd)
                except OSError as exc:
                    self.note(f"skipped {entry.path}: cannot open {here}/{name} ({exc.strerror})")
                    return False
                os.close(fd)
                fd, here = child, f"{here.rstrip('/')}/{name}"
            self._dir(fd, here, os.fstat(fd), entry)
            self._tree(fd, here, entry)
            return True
        finally:
            os.close(fd)

    def _tree(self, top_fd: int, top: str, entry: Entry) -> None:
        """Depth first; holds one open directory and one list of subdirectory names per level."""
        stack = [(top_fd, top, self._scan(top_fd, top, entry), False)]
        while stack:
            fd, path, subdirs, owned = stack[-1]
            name = next(subdirs, None)
            if name is None:
                stack.pop()
                if owned:
                    os.close(fd)
                continue
            child_path = f"{path}/{name}"
            try:
                child = os.open(name, DIR_OPEN, dir_fd=fd)
            except FileNotFoundError:
                self.stats.vanished += 1
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    self.stats.vanished += 1  # replaced by a symlink or a file meanwhile
                else:
                    self._failed(child_path, exc)
                continue
            try:
                self._dir(child, child_path, os.fstat(child), entry)
                listing = self._scan(child, child_path, entry)
            except OSError as exc:
                os.close(child)
                self._failed(child_path, exc)
                continue
            stack.append((child, child_path, listing, True))

    def _scan(self, fd: int, path: str, entry: Entry):
        """Check the files of one directory as they are listed; return its subdirectories."""
        subdirs = []
        hook = self.before_stat
        with os.scandir(fd) as listing:
            for item in listing:
                if hook is not None:
                    hook(path, item.name)
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    self.stats.vanished += 1
                    continue
                mode = st.st_mode
                if stat.S_ISLNK(mode):
                    self.stats.symlinks += 1
                elif stat.S_ISDIR(mode):
                    child = f"{path}/{item.name}"
                    if child in self.plan_paths:
                        continue  # another plan line owns it
                    subdirs.append(item.name)
                elif stat.S_ISREG(mode):
                    self._file(fd, item.name, f"{path}/{item.name}", st, entry)
                else:
                    self.stats.other += 1
        return iter(subdirs)

    def _dir(self, fd: int, path: str, st: os.stat_result, entry: Entry) -> None:
        self.stats.checked += 1
        if not self._differs(st, entry.uid, entry.gid, entry.dir_mode):
            return
        if self.apply:
            try:
                self._fix(fd, st, entry.uid, entry.gid, entry.dir_mode)
            except OSError as exc:
                self._failed(path, exc)
                return
        self._report(path, st, entry.uid, entry.gid, entry.dir_mode)

    def _file(self, dir_fd: int, name: str, path: str, st: os.stat_result, entry: Entry) -> None:
        self.stats.checked += 1
        if not self._differs(st, entry.uid, entry.gid, entry.file_mode):
            return
        if not self.apply:
            self._report(path, st, entry.uid, entry.gid, entry.file_mode)
            return
        by_path = False
        try:
            try:
                fd = os.open(name, FILE_OPEN, dir_fd=dir_fd)
            except PermissionError:
                if not O_PATH:
                    raise
                # Not root and no read permission (a 0000 file we own): a path-only descriptor.
                fd, by_path = os.open(name, O_PATH, dir_fd=dir_fd), True
        except FileNotFoundError:
            self.stats.vanished += 1
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.stats.vanished += 1  # became a symlink: never followed
            else:
                self._failed(path, exc)
            return
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
                self.stats.vanished += 1  # replaced between the listing and the open
                return
            if by_path:
                # /proc/self/fd/N names this very inode, a regular file: nothing to follow.
                target = f"/proc/self/fd/{fd}"
                if now.st_uid != entry.uid or now.st_gid != entry.gid:
                    os.chown(target, entry.uid, entry.gid)
                os.chmod(target, entry.file_mode)
            else:
                self._fix(fd, now, entry.uid, entry.gid, entry.file_mode)
        except OSError as exc:
            self._failed(path, exc)
            return
        finally:
            os.close(fd)
        self._report(path, st, entry.uid, entry.gid, entry.file_mode)

    @staticmethod
    def _differs(st: os.stat_result, uid: int, gid: int, mode: int) -> bool:
        return st.st_uid != uid or st.st_gid != gid or stat.S_IMODE(st.st_mode) != mode

    @staticmethod
    def _fix(fd: int, st: os.stat_result, uid: int, gid: int, mode: int) -> None:
        # Owner first: chown clears setuid/setgid bits, which the chmod then sets as planned.
        if st.st_uid != uid or st.st_gid != gid:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)

    def _report(self, path: str, st: os.stat_result, uid: int, gid: int, mode: int) -> None:
        self.stats.changed += 1
        if self.verbose:
            verb = "changed" if self.apply else "would change"
            print(
                f"{verb} {path}: {st.st_uid}:{st.st_gid} {stat.S_IMODE(st.st_mode):04o} -> "
                f"{uid}:{gid} {mode:04o}",
                file=self.out,
            )

    def _failed(self, path: str, exc: OSError) -> None:
        self.stats.failed += 1
        print(f"error: {path}: {exc.strerror or exc}", file=self.out)

    def summary(self, walked: int, missing: int, unchanged: int) -> str:
        s = self.stats
        verb = "changed" if self.apply else "would change"
        skipped = s.symlinks + s.vanished + s.other
        return (
            f"{'applied' if self.apply else 'dry run'}: checked {s.checked}, {verb} {s.changed}, "
            f"skipped {skipped} (symlinks {s.symlinks}, vanished {s.vanished}, other {s.other}), "
            f"failed {s.failed}; plan paths: {walked} walked, {missing} missing or refused, "
            f"{unchanged} unchanged since the last run"
        )


def _read_state(state_dir: str) -> dict[str, str]:
    """path -> digest of the plan line last applied completely."""
    done: dict[str, str] = {}
    try:
        with open(os.path.join(state_dir, STATE_FILE), encoding="utf-8") as handle:
            for line in handle:
                digest, _, path = line.rstrip("\n").partition(" ")
                if path:
                    done[path] = digest
    except FileNotFoundError:
        pass
    return done


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path) or "."
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".gatehouse-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()[:32]


def run(args, out=sys.stdout, applier: Applier | None = None) -> int:
    state_dir = args.state_dir
    etag_path = os.path.join(state_dir, ETAG_FILE) if state_dir else None
    old_etag = None
    if args.incremental and etag_path and os.path.exists(etag_path):
        with open(etag_path, encoding="utf-8") as handle:
            old_etag = handle.read().strip() or None
    new_etag = None
    try:
        if args.url:
            lines, new_etag = fetch_plan(args.url, args.token_file, old_etag, args.timeout)
            if lines is None:
                print("plan unchanged since the last run (ETag): nothing to do", file=out)
                return 0
        elif args.plan == "-":
            lines = sys.stdin.readlines()
        else:
            with open(args.plan, encoding="utf-8") as handle:
                lines = handle.readlines()
        entries = parse_plan(lines)
    except PlanRefused as exc:
        print(f"plan refused, nothing changed: {exc}", file=out)
        return 2
    applier = applier or Applier(roots=args.root, apply=args.apply, verbose=args.verbose, out=out)
    applier.out = out
    chosen = applier.select(entries)
    missing = len(entries) - len(chosen)
    previous = _read_state(state_dir) if (args.incremental and state_dir) else {}
    done: dict[str, str] = {}
    walked = unchanged = 0
    for entry in chosen:
        digest = _digest(entry.line)
        if previous.get(entry.path) == digest:
            unchanged += 1
            done[entry.path] = digest
            continue
        failed_before = applier.stats.failed
        if applier.walk(entry):
            walked += 1
            if applier.stats.failed == failed_before:
                done[entry.path] = digest
        else:
            missing += 1
    print(applier.summary(walked, missing, unchanged), file=out)
    if args.apply and state_dir:
        os.makedirs(state_dir, exist_ok=True)
        state = "".join(f"{d} {p}\n" for p, d in sorted(done.items()))
        _write_atomically(os.path.join(state_dir, STATE_FILE), state)
        if new_etag and applier.stats.failed == 0:
            _write_atomically(etag_path, new_etag + "\n")
    return 1 if applier.stats.failed else 0


def arguments(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="See docs/storage-nodes.md in Gatehouse."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="https://<portal>/exports/permissions")
    source.add_argument("--plan", help="a plan file written by export_mappings, or - for stdin")
    parser.add_argument(
        "--token-file",
        help="file with the node token (or the line 'Authorization: Bearer <token>')",
    )
    parser.add_argument(
        "--root",
        action="append",
        required=True,
        help="absolute prefix this node may change, e.g. /data (repeat for several)",
    )
    parser.add_argument("--apply", action="store_true", help="change files (default: dry run)")
    parser.add_argument("--verbose", action="store_true", help="one line per change")
    parser.add_argument("--incremental", action="store_true", help="walk changed paths only")
    parser.add_argument("--state-dir", help="where the ETag and the last applied plan are kept")
    parser.add_argument("--timeout", type=float, default=60.0, help="HTTP timeout, seconds")
    args = parser.parse_args(argv)
    if args.url and not args.url.startswith(("https://", "http://")):
        parser.error("--url must be an http:// or https:// address")
    if args.url and not args.token_file:
        parser.error("--url needs --token-file")
    if args.incremental and not args.state_dir:
        parser.error("--incremental needs --state-dir")
    for root in args.root:
        if not root.startswith("/") or any(s in (".", "..") for s in root.split("/")):
            parser.error(f"--root {root!r}: give a clean absolute path")
    return args


def main(argv=None) -> int:
    return run(arguments(argv))


if __name__ == "__main__":
    sys.exit(main())
