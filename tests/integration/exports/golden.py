"""Compare an export with its golden file line by line (GATEHOUSE_UPDATE_GOLDEN=1 rewrites)."""

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GATEHOUSE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8").split("\n")
    actual = text.split("\n")
    for number, (want, got) in enumerate(zip(expected, actual, strict=False), start=1):
        assert got == want, f"{name}, line {number}: expected {want!r}, got {got!r}"
    assert len(actual) == len(expected), (
        f"{name}: expected {len(expected)} lines, got {len(actual)}"
    )
