"""The line counting behind the command's +N/-M report and its drop guard."""

import pytest

from campaigns.exports import files
from campaigns.exports.files import ExportRefused, count_changes, write_atomically


@pytest.mark.parametrize("lines_per_pass", [1_000_000, 3, 1])
def test_count_changes_counts_lines_as_multisets(tmp_path, monkeypatch, lines_per_pass):
    monkeypatch.setattr(files, "LINES_PER_PASS", lines_per_pass)
    old = tmp_path / "old"
    new = tmp_path / "new"
    old.write_text("a\nb\nb\nc\nd\n")
    new.write_text("b\na\nc\ne\ne\nf\n")
    assert count_changes(old, new, 5, 6) == (3, 2)  # +e +e +f, -b -d


def test_refusal_is_by_share_of_old_lines_removed(tmp_path):
    target = tmp_path / "file"
    target.write_text("".join(f"line {n}\n" for n in range(10)))
    kept = [f"line {n}\n" for n in range(7)]
    with pytest.raises(ExportRefused, match="removes 3 of its 10 lines"):
        write_atomically(target, kept, max_drop=0.2)
    result = write_atomically(target, kept + ["new\n"], max_drop=0.3)
    assert (result.lines, result.added, result.removed, result.replaced) == (8, 1, 3, True)


def test_a_first_write_has_nothing_to_drop(tmp_path):
    result = write_atomically(tmp_path / "fresh", [], max_drop=0.0)
    assert (result.lines, result.replaced) == (0, True)
    assert (tmp_path / "fresh").read_text() == ""
