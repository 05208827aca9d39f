"""A campaign whose data paths are real directories in a temporary folder, and the node side:
the applier script run as a program, on a plan written by `export_mappings`."""

import datetime
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns import services

ROOT = Path(__file__).resolve().parents[3]
APPLIER = ROOT / "scripts" / "gatehouse_permissions.py"
IS_ROOT = os.geteuid() == 0


def days(n: int):
    return timezone.localdate() + datetime.timedelta(days=n)


@dataclass
class Node:
    """The storage node: a root folder with campaign data, the plan file, the applier."""

    root: Path
    plan_file: Path
    state_dir: Path

    def export_plan(self) -> str:
        """The portal side: write the plan file with the management command."""
        out = io.StringIO()
        call_command(
            "export_mappings", "--format", "permissions", "--output", str(self.plan_file),
            "--force", stdout=out,
        )  # fmt: skip
        text = self.plan_file.read_text()
        if not IS_ROOT:
            # Only root may give files away: keep the modes, use our own uid and gid.
            text = "".join(own_ids(line) for line in text.splitlines(keepends=True))
            self.plan_file.write_text(text)
        return text

    def apply(
        self, *extra: str, roots: tuple[Path, ...] | None = None, refused: bool = False
    ) -> subprocess.CompletedProcess:
        args = [sys.executable, str(APPLIER), "--plan", str(self.plan_file), *extra]
        for root in roots or (self.root,):
            args += ["--root", str(root)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert result.returncode == (2 if refused else 0), result.stdout + result.stderr
        return result


def own_ids(line: str) -> str:
    if line.startswith("#"):
        return line
    fields = line.split(" ")
    fields[1], fields[2] = str(os.getuid()), str(os.getgid())
    return " ".join(fields)


def summary(result: subprocess.CompletedProcess) -> str:
    return [line for line in result.stdout.splitlines() if line.startswith(("applied", "dry run"))][
        -1
    ]


def changed(result: subprocess.CompletedProcess) -> int:
    return int(summary(result).split("changed ")[1].split(",")[0])


def make_tree(top: Path, files: int = 3) -> None:
    """A small campaign tree: nested folders and files with the wrong modes, world-writable."""
    (top / "raw" / "night-001").mkdir(parents=True, exist_ok=True)
    (top / "calibrated").mkdir(exist_ok=True)
    for i in range(files):
        for folder in (top / "raw" / "night-001", top / "calibrated"):
            path = folder / f"frame-{i}.fits"
            path.write_bytes(b"SIMPLE  =                    T")
            path.chmod(0o666)
    for folder in (top, top / "raw", top / "raw" / "night-001", top / "calibrated"):
        folder.chmod(0o777)


@pytest.fixture
def node(tmp_path) -> Node:
    root = tmp_path / "storage"
    root.mkdir()
    return Node(root=root, plan_file=tmp_path / "permissions.txt", state_dir=tmp_path / "state")


@pytest.fixture
def embargoed(db, admin, pi, member, manager, node):
    """Campaign nightsky under embargo for a year, its data in node.root/nightsky."""
    data = node.root / "nightsky"
    make_tree(data)
    campaign = services.campaign_create(
        slug="nightsky", title="Night Sky", pi=pi, actor=admin, embargo_until=days(365),
        data_paths=[str(data)],
    )  # fmt: skip
    for account in (member, manager):
        asked = services.membership_request(campaign=campaign, account=account)
        services.membership_approve(membership=asked, actor=pi)
    services.manager_appoint(campaign=campaign, account=manager, actor=pi)
    campaign.refresh_from_db()
    return campaign
