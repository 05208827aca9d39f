"""The node-side permission applier (scripts/gatehouse_permissions.py) over a large tree.

Target (issue 15): a tree of 1,000,000 files without holding them in memory: peak RSS < 50 MB;
first run (everything changes) and a run with nothing to change, in files per second.
Baseline in the same run, on the same tree: `chown -R` + `chmod -R` (coreutils, C), which is what
an operator would otherwise run by hand; the ratio is ours / theirs in wall time.

Needs no database: the plan is one line written here. Runs as root to change owners (as
non-root the plan uses our own uid and gid, so only modes change). Files are created in a
temporary folder on the same disk as /tmp (page cache warm for every run, as on a node that
walks its tree every hour); BENCH_PERMISSIONS_FILES overrides the count (default 1,000,000,
times BENCH_SCALE). Each measured run is its own process; its peak RSS comes from wait4().
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPLIER = ROOT / "scripts" / "gatehouse_permissions.py"
FILES_PER_DIR = 1000
TARGET_MB = 50


def make_tree(top: Path, files: int) -> tuple[int, int]:
    """`files` empty files, FILES_PER_DIR per folder, folders grouped by 100; all 0666/0777."""
    folders = made = 0
    group = None
    while made < files:
        if folders % 100 == 0:
            group = top / f"g{folders // 100:04d}"
            group.mkdir(parents=True)
            os.chmod(group, 0o777)
        folder = group / f"d{folders:06d}"
        folder.mkdir()
        os.chmod(folder, 0o777)
        folders += 1
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(min(FILES_PER_DIR, files - made)):
                os.close(os.open(f"f{i:04d}.dat", os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=fd))
                made += 1
        finally:
            os.close(fd)
    return made, folders + (folders + 99) // 100 + 1


def measured(args: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, stdout) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({process.returncode}): {out[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    scale = float(os.getenv("BENCH_SCALE", "1.0"))
    files = int(os.getenv("BENCH_PERMISSIONS_FILES", str(int(1_000_000 * scale))))
    is_root = os.geteuid() == 0
    uid, gid = (20001, 30000001) if is_root else (os.getuid(), os.getgid())
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-permissions-"))
    try:
        data = workdir / "data" / "camp"
        started = time.perf_counter()
        made, folders = make_tree(data, files)
        made_s = time.perf_counter() - started
        plan = workdir / "permissions.txt"
        plan.write_text(
            f"# gatehouse-permissions 1\n{data} {uid} {gid} 0640 2750 camp 2030-01-01 embargo -\n"
        )
        applier = [sys.executable, str(APPLIER), "--plan", str(plan), "--root", str(workdir)]
        first_s, first_mb, first_out = measured([*applier, "--apply"])
        again_s, again_mb, again_out = measured([*applier, "--apply"])
        assert "changed 0," in again_out, again_out
        entries = made + folders
        # Baseline: the same change by hand, after putting the tree back as it was.
        subprocess.run(["chown", "-R", f"{os.getuid()}:{os.getgid()}", str(data)], check=True)
        subprocess.run(["chmod", "-R", "a+rwX", str(data)], check=True)
        chown_s, _, _ = measured(["chown", "-R", f"{uid}:{gid}", str(data)])
        chmod_s, _, _ = measured(["chmod", "-R", "u=rwX,g=rX,o=", str(data)])
        baseline_s = chown_s + chmod_s
        nochange_chown_s, _, _ = measured(["chown", "-R", f"{uid}:{gid}", str(data)])
        nochange_chmod_s, _, _ = measured(["chmod", "-R", "u=rwX,g=rX,o=", str(data)])
        nochange_baseline_s = nochange_chown_s + nochange_chmod_s
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    note = (
        f"{made:,} files in {folders:,} folders (made in {made_s:.0f} s), "
        f"{'as root: owner, group and mode' if is_root else 'not root: modes only'}"
    )
    rows = [
        {
            "measure": f"applier first run, {made:,} files (all change)",
            "value": round(entries / first_s),
            "unit": "entries/s",
            "target": "",
            "met": None,
            "ratio": f"{first_s / baseline_s:.1f}x chown -R + chmod -R ({baseline_s:.1f} s)",
            "note": f"{first_s:.1f} s; {note}",
        },
        {
            "measure": "applier run with nothing to change",
            "value": round(entries / again_s),
            "unit": "entries/s",
            "target": "",
            "met": None,
            "ratio": (
                f"{again_s / nochange_baseline_s:.1f}x chown -R + chmod -R "
                f"({nochange_baseline_s:.1f} s, which rewrite anyway)"
            ),
            "note": f"{again_s:.1f} s; lstat only, nothing written",
        },
        {
            "measure": "applier peak memory",
            "value": round(max(first_mb, again_mb), 1),
            "unit": "MB",
            "target": f"< {TARGET_MB} MB",
            "met": max(first_mb, again_mb) < TARGET_MB,
            "ratio": "",
            "note": f"ru_maxrss of the applier (first run {first_mb:.1f}, again {again_mb:.1f})",
        },
    ]
    print(json.dumps({"benchmark": "permissions", "rows": rows}))


if __name__ == "__main__":
    main()
