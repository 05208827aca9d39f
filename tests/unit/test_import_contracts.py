"""The import contracts in pyproject.toml (run by `make lint`) hold, and they bite: lint-imports
fails on a copy of the code with an import that runs the wrong way."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
APPS = ("accounts", "campaigns", "tokens", "webui")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def copy_of_the_code(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contracts")
    shutil.copy(ROOT / "pyproject.toml", root)
    for app in APPS:
        shutil.copytree(ROOT / app, root / app, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_code_keeps_the_contracts():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("accounts/models.py", "from campaigns import models", "accounts.models -> campaigns"),
        ("campaigns/views.py", "from tokens import selectors", "campaigns.views -> tokens"),
        ("tokens/views.py", "import webui.urls", "tokens.views -> webui.urls"),
        ("tokens/inspection/claims.py", "from accounts import models", "tokens.inspection.claims"),
    ],
)
def test_an_import_the_wrong_way_breaks_a_contract(copy_of_the_code, module, line, broken):
    path = copy_of_the_code / module
    original = path.read_text()
    path.write_text(f"{original}\n{line}  # noqa\n")
    try:
        result = lint_imports(copy_of_the_code)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and broken in result.stdout, result.stdout
