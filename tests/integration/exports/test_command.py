"""manage.py export_mappings: stdout, atomic replacement, the drop guard, failures."""

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from campaigns import exports
from campaigns.exports import ExportError
from campaigns.models import Membership
from tests.integration.exports.golden import GOLDEN

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_mappings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.sqlite
def test_without_output_writes_to_stdout(export_data):
    out, err = run("--format", "passwd")
    assert out == (GOLDEN / "passwd.txt").read_text()
    # The one account named under Rucio's older rule ("-lead") is left out, and said so.
    assert err == (
        "warning: 1 skipped: account name that does not match its rule (see manage.py check_account_names)\n"
    )


def test_stdout_mode_reports_skipped_rows_on_stderr(export_data):
    out, err = run("--format", "multimap-ids")
    assert out == (GOLDEN / "multimap-ids.txt").read_text()
    assert "warning: 1 skipped: OIDC identity not in the form" in err


def test_writes_a_new_file(export_data, tmp_path):
    target = tmp_path / "group"
    out, _ = run("--format", "group", "--output", str(target))
    assert target.read_text() == (GOLDEN / "group.txt").read_text()
    assert out.strip() == f"{target}: replaced, 10 lines (+10/-0)"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert leftovers(tmp_path) == []


def test_replaces_atomically_and_moves_mtime_forward(export_data, tmp_path):
    target = tmp_path / "group"
    golden = (GOLDEN / "group.txt").read_text().splitlines(keepends=True)
    # One line of ten changed: what the command must report as +1/-1.
    target.write_text("".join(golden[:-1]) + "mueller:x:1:\n")
    target.chmod(0o640)
    inode = target.stat().st_ino
    # An mtime in the future, as a coarse or skewed clock would leave it.
    future = time.time_ns() + 5_000_000_000
    os.utime(target, ns=(future, future))

    out, _ = run("--format", "group", "--output", str(target))

    assert out.strip() == f"{target}: replaced, 10 lines (+1/-1)"
    assert target.read_text() == "".join(golden)
    stat = target.stat()
    assert stat.st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert stat.st_mtime_ns > future
    assert oct(stat.st_mode & 0o777) == "0o640"
    assert leftovers(tmp_path) == []


def test_unchanged_content_leaves_the_file_alone(export_data, tmp_path):
    target = tmp_path / "passwd"
    run("--format", "passwd", "--output", str(target))
    before = target.stat()
    out, _ = run("--format", "passwd", "--output", str(target))
    assert out.strip() == f"{target}: unchanged, 8 lines (+0/-0)"
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert target.stat().st_ino == before.st_ino


def _lose_members(export_data):
    Membership.objects.filter(
        account__in=[export_data.jdoe, export_data.boneil], state=Membership.State.APPROVED
    ).update(state=Membership.State.REVOKED)


def test_refuses_to_drop_more_than_the_allowed_share(export_data, tmp_path):
    target = tmp_path / "multimap-campaigns.conf"
    run("--format", "multimap-campaigns", "--output", str(target))
    before = (target.read_bytes(), target.stat().st_mtime_ns)
    _lose_members(export_data)  # removes 2 of 6 lines: 33%

    with pytest.raises(CommandError, match=r"removes 2 of its 6 lines \(33%, more than the 20%"):
        run("--format", "multimap-campaigns", "--output", str(target))

    assert (target.read_bytes(), target.stat().st_mtime_ns) == before
    assert leftovers(tmp_path) == []


def test_force_replaces_despite_a_big_drop(export_data, tmp_path):
    target = tmp_path / "multimap-campaigns.conf"
    run("--format", "multimap-campaigns", "--output", str(target))
    _lose_members(export_data)
    out, _ = run("--format", "multimap-campaigns", "--output", str(target), "--force")
    assert out.strip() == f"{target}: replaced, 4 lines (+0/-2)"
    assert "jdoe" not in target.read_text()


def test_max_drop_option_and_setting(export_data, tmp_path, settings):
    target = tmp_path / "multimap-campaigns.conf"
    run("--format", "multimap-campaigns", "--output", str(target))
    _lose_members(export_data)
    settings.GATEHOUSE_EXPORT_MAX_DROP = 0.6
    out, _ = run("--format", "multimap-campaigns", "--output", str(target))
    assert "(+0/-2)" in out
    with pytest.raises(CommandError):
        run("--format", "multimap-campaigns", "--max-drop", "1.5")


def test_failure_part_way_leaves_the_old_file(export_data, tmp_path, monkeypatch):
    target = tmp_path / "passwd"
    run("--format", "passwd", "--output", str(target))
    before = (target.read_bytes(), target.stat().st_mtime_ns)

    # A renderer that fails after some lines: a database or invariant failure mid-stream is
    # not something the fixed data set can produce on demand.
    def failing(report):
        yield "first:x:1:1::/home/first:/sbin/nologin\n"
        raise ExportError("Two accounts map the same dn principal.")

    monkeypatch.setitem(exports.FORMATS, "passwd", failing)
    with pytest.raises(CommandError, match="Two accounts map the same dn principal"):
        run("--format", "passwd", "--output", str(target))
    assert (target.read_bytes(), target.stat().st_mtime_ns) == before
    assert leftovers(tmp_path) == []


def test_output_directory_that_cannot_be_written_fails(export_data, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(CommandError, match="Cannot create a file in .*not-a-directory"):
        run("--format", "group", "--output", str(blocker / "group"))


def test_exits_non_zero_on_failure(db, tmp_path):
    settings = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/"
        f"{settings['NAME']}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "export_mappings", "--format", "group", "--output"]
        + [str(tmp_path / "missing" / "group")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Cannot create a file in" in result.stderr
    assert not (tmp_path / "missing").exists()
