"""The node-side applier (scripts/gatehouse_permissions.py) on real files in a temporary folder.

CI runs as root, so ownership is checked too. When not root, the plan's uid and gid are replaced
by our own before applying (only root may give files away) and the tests check modes only;
`test_runs_as_root_or_says_so` makes that visible in the report.
"""

import importlib.util
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from campaigns import services
from campaigns.services import node_token_create
from tests.integration.permissions.conftest import (
    APPLIER,
    IS_ROOT,
    changed,
    days,
    make_tree,
    summary,
)

pytestmark = pytest.mark.django_db


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def every_entry(top: Path):
    yield top
    for directory, folders, files in os.walk(top):
        for name in folders + files:
            yield Path(directory) / name


def assert_tree(top: Path, *, file_mode: int, dir_mode: int, uid: int, gid: int) -> None:
    for path in every_entry(top):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            continue
        want = dir_mode if stat.S_ISDIR(st.st_mode) else file_mode
        assert stat.S_IMODE(st.st_mode) == want, f"{path}: {stat.S_IMODE(st.st_mode):04o}"
        if IS_ROOT:
            assert (st.st_uid, st.st_gid) == (uid, gid), path


def test_runs_as_root_or_says_so():
    if not IS_ROOT:
        pytest.skip("not root: ownership is not checked here, only modes (CI runs as root)")
    assert os.geteuid() == 0


def test_embargoed_campaign_gets_0640_2750_and_pi_ownership(node, embargoed, pi):
    text = node.export_plan()
    assert text.splitlines()[0] == "# gatehouse-permissions 1"
    data = node.root / "nightsky"

    dry = node.apply("--verbose")
    assert "would change" in dry.stdout
    assert mode(data / "calibrated" / "frame-0.fits") == 0o666  # a dry run changes nothing

    first = node.apply("--apply", "--verbose")
    assert first.returncode == 0, first.stdout
    assert changed(first) == 10  # 4 folders, 6 files
    assert_tree(data, file_mode=0o640, dir_mode=0o2750, uid=pi.uid, gid=embargoed.gid)
    assert f"changed {data}/calibrated/frame-0.fits" in first.stdout

    second = node.apply("--apply")
    assert changed(second) == 0, second.stdout
    assert "checked 10, changed 0" in summary(second)


def test_embargo_passing_makes_the_data_world_readable_after_one_run(node, embargoed, pi):
    node.export_plan()
    node.apply("--apply")
    # The day comes: the embargo date is today, which the plan reads as public.
    services.campaign_update_embargo(campaign=embargoed, embargo_until=days(0), actor=None)
    assert " public " in node.export_plan()
    result = node.apply("--apply")
    assert changed(result) == 10
    assert_tree(
        node.root / "nightsky", file_mode=0o644, dir_mode=0o2755, uid=pi.uid, gid=embargoed.gid
    )


def test_a_new_pi_becomes_the_owner(node, embargoed, admin, member):
    node.export_plan()
    node.apply("--apply")
    services.campaign_set_pi(campaign=embargoed, pi=member, actor=admin)
    assert f" {member.uid} {embargoed.gid} 0640 2750 " in node.export_plan()
    result = node.apply("--apply")
    if IS_ROOT:
        assert changed(result) == 10
    assert_tree(
        node.root / "nightsky", file_mode=0o640, dir_mode=0o2750, uid=member.uid, gid=embargoed.gid
    )


def test_symlinks_are_not_followed(node, embargoed, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("not campaign data")
    secret.chmod(0o600)
    outside.chmod(0o700)
    data = node.root / "nightsky"
    (data / "raw" / "to-outside").symlink_to(outside)
    (data / "raw" / "to-secret").symlink_to(secret)
    before = os.lstat(data / "raw" / "to-secret")
    node.export_plan()

    result = node.apply("--apply")
    assert "symlinks 2" in summary(result)
    assert mode(secret) == 0o600 and mode(outside) == 0o700
    assert os.stat(secret).st_uid == os.stat(tmp_path).st_uid
    after = os.lstat(data / "raw" / "to-secret")
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)  # no lchown either


def test_a_plan_path_that_is_itself_a_symlink_is_skipped(node, embargoed, tmp_path):
    data = node.root / "nightsky"
    shutil.rmtree(data)
    target = tmp_path / "elsewhere"
    make_tree(target)
    data.symlink_to(target)
    node.export_plan()
    result = node.apply("--apply")
    assert "is a symlink, not followed" in result.stdout
    assert mode(target / "calibrated" / "frame-0.fits") == 0o666


def test_plan_paths_outside_the_roots_are_refused(node, embargoed, tmp_path):
    node.export_plan()
    victim = tmp_path / "victim"
    make_tree(victim)
    with node.plan_file.open("a") as plan:
        plan.write(f"{victim} 0 0 0644 2755 victim - public -\n")
        plan.write(f"{node.root}/nightsky/../../victim 0 0 0644 2755 victim2 - public -\n")
    result = node.apply("--apply")
    assert f"refused {victim}: outside the roots" in result.stdout
    assert "refused" in result.stdout and "not a clean path" in result.stdout
    assert mode(victim / "calibrated" / "frame-0.fits") == 0o666
    assert mode(node.root / "nightsky" / "calibrated" / "frame-0.fits") == 0o640


def test_paths_missing_on_this_node_are_noted_and_skipped(node, embargoed, pi, admin):
    services.campaign_update_data_paths(
        campaign=embargoed,
        data_paths=[*embargoed.data_paths, str(node.root / "tape-copy")],
        actor=admin,
    )
    node.export_plan()
    result = node.apply("--apply")
    assert result.returncode == 0
    assert f"{node.root}/tape-copy does not exist on this node" in result.stdout
    assert "1 missing or refused" in summary(result)
    assert mode(node.root / "nightsky" / "raw") == 0o2750


def test_a_bad_plan_changes_nothing(node, embargoed):
    node.export_plan()
    text = node.plan_file.read_text()
    for broken in (
        text.replace("# gatehouse-permissions 1", "# gatehouse-permissions 2"),
        text[:-5],  # cut off mid-line
        text.replace(" 0640 ", " 4755 "),  # setuid on files
        text.replace(" nightsky ", " night sky "),
    ):
        node.plan_file.write_text(broken)
        result = node.apply("--apply", refused=True)
        assert "plan refused, nothing changed" in result.stdout, broken
    assert mode(node.root / "nightsky" / "calibrated" / "frame-0.fits") == 0o666


def load_applier():
    spec = importlib.util.spec_from_file_location("gatehouse_permissions", APPLIER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_files_and_folders_vanishing_during_the_walk_do_not_stop_it(node, embargoed):
    """The hook runs after a directory was listed and before each entry is looked at: it
    deletes a file and a whole folder there, as another process on the node could."""
    node.export_plan()
    data = node.root / "nightsky"
    applier_module = load_applier()
    out = io.StringIO()
    applier = applier_module.Applier(roots=[str(node.root)], apply=True, verbose=True, out=out)
    removed = []

    def vanish(directory: str, name: str) -> None:
        if directory == str(data / "calibrated") and name == "frame-1.fits":
            (data / "calibrated" / "frame-2.fits").unlink(missing_ok=True)
            removed.append("frame-2.fits")
        if directory == str(data) and "raw" not in removed:
            shutil.rmtree(data / "raw")
            removed.append("raw")

    applier.before_stat = vanish
    args = applier_module.arguments(
        ["--plan", str(node.plan_file), "--root", str(node.root), "--apply"]
    )
    status = applier_module.run(args, out=out, applier=applier)
    assert status == 0, out.getvalue()
    assert "raw" in removed and "frame-2.fits" in removed
    assert applier.stats.vanished >= 2, out.getvalue()
    assert not (data / "raw").exists()
    assert mode(data / "calibrated" / "frame-0.fits") == 0o640
    assert mode(data / "calibrated" / "frame-1.fits") == 0o640


def test_incremental_runs_walk_only_changed_campaigns(node, embargoed, admin, pi):
    other = node.root / "solar"
    make_tree(other)
    solar = services.campaign_create(
        slug="solar", title="Solar", pi=pi, actor=admin, data_paths=[str(other)]
    )
    node.export_plan()
    state = ("--incremental", "--state-dir", str(node.state_dir))
    first = node.apply("--apply", *state)
    assert changed(first) == 20
    assert (node.state_dir / "permissions.state").read_text().count("\n") == 2

    (other / "calibrated" / "frame-0.fits").chmod(0o600)  # drift, but its line is unchanged
    services.campaign_update_embargo(campaign=solar, embargo_until=None, actor=admin)
    services.campaign_update_embargo(campaign=embargoed, embargo_until=days(0), actor=admin)
    node.export_plan()
    second = node.apply("--apply", *state)
    assert "2 walked" not in summary(second) and "1 walked" in summary(second)
    assert "1 unchanged since the last run" in summary(second)
    assert mode(node.root / "nightsky" / "raw") == 0o2755
    assert mode(other / "calibrated" / "frame-0.fits") == 0o600  # not walked

    full = node.apply("--apply")  # a full run repairs the drift
    assert changed(full) == 1
    assert mode(other / "calibrated" / "frame-0.fits") == 0o644


@pytest.mark.django_db(transaction=True)
def test_fetches_the_plan_over_http_with_a_node_token_and_skips_a_304(
    node, embargoed, live_server, tmp_path, pi
):
    secret = node_token_create(name="nfs-1")[1]
    token_file = tmp_path / "node-token.header"
    token_file.write_text(f"Authorization: Bearer {secret}\n")
    token_file.chmod(0o600)
    url = f"{live_server.url}/exports/permissions"
    common = ["--url", url, "--token-file", str(token_file), "--root", str(node.root)]
    state = ["--incremental", "--state-dir", str(node.state_dir)]

    def run(*extra):
        return subprocess.run(
            [sys.executable, str(APPLIER), *common, *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    if not IS_ROOT:
        pytest.skip("not root: the plan from the portal gives files to other uids")
    first = run("--apply", *state)
    assert first.returncode == 0, first.stdout + first.stderr
    assert changed(first) == 10
    assert (node.state_dir / "permissions.etag").read_text().startswith('"')
    assert_tree(
        node.root / "nightsky", file_mode=0o640, dir_mode=0o2750, uid=pi.uid, gid=embargoed.gid
    )
    again = run("--apply", *state)
    assert "plan unchanged since the last run (ETag): nothing to do" in again.stdout

    token_file.write_text("Authorization: Bearer ghn_wrong\n")
    refused = run("--apply")
    assert refused.returncode == 2
    assert "answered 401" in refused.stdout
