"""`manage.py inspect_token` run as operators run it: a real process, the token on stdin."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.jwks_server import LoopbackIssuer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def issuer():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture(scope="module")
def run(issuer, tmp_path_factory):
    secrets = tmp_path_factory.mktemp("idp") / "idpsecrets.json"
    secrets.write_text(
        json.dumps(
            {
                "test": {
                    "issuer": issuer.issuer,
                    "client_id": "c",
                    "client_secret": "s",
                    "storage_base_path": "/vo",
                }
            }
        )
    )
    env = {**os.environ, "GATEHOUSE_IDPSECRETS": str(secrets)}

    def run(stdin: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "inspect_token", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=60,
        )

    return run


def test_valid_token_exits_0(issuer, run):
    raw = issuer.sign(issuer.claims())
    result = run(raw, "--audience", "https://storage.example.org")
    assert result.returncode == 0, result.stderr
    assert "VALID" in result.stdout
    assert "PASS  signature" in result.stdout
    assert raw not in result.stdout + result.stderr


def test_invalid_token_exits_1(issuer, run):
    result = run(issuer.sign(issuer.claims(exp=1)))
    assert result.returncode == 1
    assert "FAIL  exp" in result.stdout
    assert "INVALID" in result.stdout


def test_json_output_with_path_questions(issuer, run):
    raw = issuer.sign(issuer.claims())
    result = run(
        raw, "--json", "--path", "read:/vo/data/f", "--path", "storage.create:/vo/data/upload/g"
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["valid"] is True
    assert [d["allowed"] for d in body["decisions"]] == [True, True]
    assert raw not in result.stdout


def test_denied_path_exits_1(issuer, run):
    result = run(issuer.sign(issuer.claims()), "--path", "modify:/vo/data/f")
    assert result.returncode == 1
    assert "DENY  modify:/vo/data/f" in result.stdout


def test_empty_stdin_is_a_usage_error(run):
    result = run("")
    assert result.returncode == 2
    assert "stdin was empty" in result.stderr


def test_malformed_path_question_is_a_usage_error(issuer, run):
    result = run(issuer.sign(issuer.claims()), "--path", "delete:/x")
    assert result.returncode == 2
    assert "not OP:PATH" in result.stderr


def test_token_on_the_command_line_is_refused(issuer, run):
    raw = issuer.sign(issuer.claims())
    result = run("", raw)
    assert result.returncode == 2
    assert "pipe it on stdin" in result.stderr
    assert raw not in result.stdout + result.stderr
