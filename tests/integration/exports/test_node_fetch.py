"""The fetch script from docs/storage-nodes.md, run with curl against a live server."""

import os
import subprocess
from pathlib import Path

import pytest

from campaigns.models import Membership, NodeToken
from campaigns.services import node_token_revoke
from tests.integration.exports.golden import GOLDEN

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "fetch-export.sh"


@pytest.fixture
def node(tmp_path, live_server, node_secret):
    token_file = tmp_path / "node-token.header"
    token_file.write_text(f"Authorization: Bearer {node_secret}\n")
    token_file.chmod(0o600)
    (tmp_path / "etc").mkdir()
    env = {
        **os.environ,
        "GATEHOUSE_URL": live_server.url,
        "GATEHOUSE_TOKEN_FILE": str(token_file),
        "GATEHOUSE_STATE_DIR": str(tmp_path / "state"),
    }

    def fetch(format_name: str, dest: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["sh", str(SCRIPT), format_name, str(dest)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return fetch


@pytest.mark.django_db(transaction=True)
def test_node_fetches_only_what_changed(export_data, node, tmp_path):
    dest = tmp_path / "etc" / "group"

    first = node("group", dest)
    assert first.returncode == 0, first.stderr
    assert dest.read_text() == (GOLDEN / "group.txt").read_text()
    assert oct(dest.stat().st_mode & 0o777) == "0o644"
    before = dest.stat()

    unchanged = node("group", dest)  # 304: the file is not touched
    assert unchanged.returncode == 0, unchanged.stderr
    assert (dest.stat().st_ino, dest.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    membership = export_data.membership(export_data.boneil, export_data.camp_a)
    membership.state = Membership.State.REVOKED
    membership.save()
    changed = node("group", dest)
    assert changed.returncode == 0, changed.stderr
    assert dest.read_text().splitlines()[0] == "camp-2025a:x:30000000:asmith,jdoe,mueller"
    assert dest.stat().st_ino != before.st_ino
    assert sorted(p.name for p in dest.parent.iterdir()) == ["group"]


@pytest.mark.django_db(transaction=True)
def test_node_keeps_its_file_when_refused(export_data, node, tmp_path):
    dest = tmp_path / "etc" / "multimap-ids.conf"
    assert node("multimap-ids", dest).returncode == 0
    before = (dest.read_bytes(), dest.stat().st_mtime_ns)
    (tmp_path / "state" / "multimap-ids.etag").write_text("")  # force a full fetch

    node_token_revoke(node_token=NodeToken.objects.get(name="dcache-door-1"))
    refused = node("multimap-ids", dest)
    assert refused.returncode != 0
    assert "401" in refused.stderr
    assert (dest.read_bytes(), dest.stat().st_mtime_ns) == before
    assert sorted(p.name for p in dest.parent.iterdir()) == ["multimap-ids.conf"]
