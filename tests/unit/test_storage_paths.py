"""The one storage-path module: normalisation, refusals, whole-segment covering, string prefixes."""

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.storage_paths import (
    PathRejected,
    path_covers,
    path_covers_why,
    path_is_string_prefix,
    path_normalise,
    path_prefixes,
)
from tests.harness.celery_worker import REPO

SEGMENT = st.text(alphabet="abc1", min_size=1, max_size=3)
CLEAN_PATH = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + ("/" if slash and segments else ""),
    st.lists(SEGMENT, max_size=4),
    st.booleans(),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("/", "/"), ("/data", "/data"), ("/data/", "/data/"), ("/data/run%201", "/data/run 1")],
)
def test_clean_paths_are_kept_with_their_trailing_slash(raw, expected):
    assert path_normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "data", " /a", "/a/./b", "/a/../b", "/a//b", "/a/%2e%2e/b", "/a%2Fb", "/a%5cb", "/a%00"]
    + ["/a\\b", "/a\nb", "/a%ff"],
)
def test_unsafe_paths_are_refused_not_repaired(raw):
    with pytest.raises(PathRejected):
        path_normalise(raw)


def test_the_one_trailing_slash_rule():
    assert (
        path_covers("/foo", "/foo")
        and path_covers("/foo", "/foo/")
        and path_covers("/foo", "/foo/x")
    )
    assert path_covers("/foo/", "/foo/") and path_covers("/foo/", "/foo/x")
    allowed, why = path_covers_why("/foo/", "/foo")
    assert not allowed and "directory" in why
    assert not path_covers("/foo", "/foobar") and not path_covers("/foo/", "/foobar")
    assert path_covers("/", "/anything/at/all")


def test_string_prefixes_as_xrootd_matches_them():
    assert path_is_string_prefix("/c4", "/c42")
    assert path_is_string_prefix("/c4/", "/c42/x")
    assert path_is_string_prefix("/c4", "/c4/x") and path_is_string_prefix("/", "/x")
    assert not path_is_string_prefix("/c4", "/c3") and not path_is_string_prefix("/c42", "/c4")


@given(CLEAN_PATH)
def test_normalising_is_idempotent(path):
    assert path_normalise(path) == path
    assert path_normalise(path_normalise(path)) == path


@given(CLEAN_PATH, CLEAN_PATH)
def test_covering_is_whole_segment_prefix(grant, path):
    grant_segments = [s for s in grant.split("/") if s]
    path_segments = [s for s in path.split("/") if s]
    by_segments = path_segments[: len(grant_segments)] == grant_segments
    directory_only = grant.endswith("/") and path == grant.rstrip("/")
    assert path_covers(grant, path) == (by_segments and not directory_only)
    if path_covers(grant, path):
        assert path_is_string_prefix(grant, path)  # whole segments are also string prefixes


@given(CLEAN_PATH)
def test_prefixes_all_cover_the_path(path):
    prefixes = path_prefixes(path)
    assert prefixes[0] == "/" and len(prefixes) == len([s for s in path.split("/") if s]) + 1
    assert all(path_covers(prefix, path) for prefix in prefixes)


def test_the_shared_modules_and_the_inspection_library_pull_in_no_django():
    code = (
        "import sys, accounts.storage_paths, accounts.names, accounts.keys, accounts.oauth, "
        "tokens.inspection; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
