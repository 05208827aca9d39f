"""Capability scopes: parsing, whole-segment matching, implications and the decision rules."""

import pytest

from tokens.inspection import (
    PathRejected,
    parse_capabilities,
    path_normalise,
    scopes_needed,
)


def caps(scope, **kwargs):
    return parse_capabilities(scope, **kwargs)


def test_modify_covers_create_as_the_wlcg_profile_says():
    decision = caps("storage.modify:/data").may("create", "/data/new")
    assert decision.allowed
    assert "strict superset of storage.create" in decision.rule


def test_create_does_not_cover_modify():
    decision = caps("storage.create:/data").may("modify", "/data/existing")
    assert not decision.allowed
    assert "never allows overwriting or deleting" in decision.rule


def test_stage_no_longer_implies_read():
    decision = caps("storage.stage:/tape").may("read", "/tape/run1/file")
    assert not decision.allowed
    assert "storage.stage no longer implies read" in decision.rule


def test_read_does_not_cover_stage():
    decision = caps("storage.read:/tape").may("stage", "/tape/run1/file")
    assert not decision.allowed
    assert "needs storage.stage" in decision.rule


def test_create_does_not_cover_read():
    assert not caps("storage.create:/data").may("read", "/data/file").allowed


def test_poll_alone_allows_only_polling_and_stage_allows_polling():
    assert caps("storage.poll:/tape").may("poll", "/tape/f").allowed
    assert not caps("storage.poll:/tape").may("read", "/tape/f").allowed
    assert not caps("storage.poll:/tape").may("stage", "/tape/f").allowed
    decision = caps("storage.stage:/tape").may("poll", "/tape/f")
    assert decision.allowed
    assert "also allows polling" in decision.rule


def test_root_scope_covers_everything_in_the_area():
    assert caps("storage.read:/").may("read", "/any/where").allowed


def test_trailing_slash_scope_is_a_directory_only():
    capabilities = caps("storage.create:/foo/bar/")
    assert capabilities.may("create", "/foo/bar/qux").allowed
    assert capabilities.may("create", "/foo/bar/").allowed
    file_decision = capabilities.may("create", "/foo/bar")
    assert not file_decision.allowed
    assert "not a file named /foo/bar" in file_decision.rule
    assert not capabilities.may("create", "/foo/bargain").allowed


def test_base_path_is_joined_at_the_storage_element():
    capabilities = caps("storage.read:/data storage.read:/", base_path="/vo")
    assert capabilities.may("read", "/vo/anything").allowed
    assert not capabilities.may("read", "/other/file").allowed
    assert not capabilities.may("read", "/vox/file").allowed


def test_base_path_rule_is_explained_on_denial():
    decision = caps("storage.read:/data", base_path="/vo").may("read", "/data/file")
    assert not decision.allowed
    assert "base path /vo" in decision.rule


def test_same_scopes_at_another_storage_element():
    capabilities = caps("storage.read:/data", base_path="/vo").at("/pnfs/site/vo")
    assert capabilities.may("read", "/pnfs/site/vo/data/f").allowed


def test_groups_are_ignored_when_capability_scopes_are_present():
    capabilities = caps("storage.read:/data", groups=["/vo", "/vo/prod"])
    assert capabilities.groups_ignored
    decision = capabilities.may("modify", "/data/f")
    assert not decision.allowed
    assert "wlcg.groups are ignored because the token carries capability scopes" in decision.rule


def test_groups_only_token_leaves_the_decision_to_the_storage_element():
    decision = caps("openid profile", groups=["/vo"]).may("read", "/data/f")
    assert not decision.allowed
    assert "decides from its own mapping of wlcg.groups" in decision.rule


def test_compute_scopes_are_capabilities_too():
    capabilities = caps("compute.create compute.read", groups=["/vo"])
    assert capabilities.compute == ("compute.create", "compute.read")
    assert capabilities.groups_ignored


def test_unknown_storage_operation_is_reported_but_not_fatal():
    capabilities = caps("storage.write:/data storage.read:/data")
    assert [bad.fatal for bad in capabilities.invalid] == [False]
    assert capabilities.may("read", "/data/x").allowed


def test_storage_scope_without_path_refuses_every_decision():
    capabilities = caps("storage.read: storage.read:/data")
    assert capabilities.invalid[0].fatal
    assert "whole token is refused" in capabilities.may("read", "/data/x").rule


def test_scope_as_a_json_list_is_understood():
    assert caps(["storage.read:/a", "storage.create:/b"]).may("create", "/b/c").allowed


def test_unknown_operation_question_is_answered():
    decision = caps("storage.read:/").may("delete", "/x")
    assert not decision.allowed
    assert "not a storage operation" in decision.rule


def test_capability_table_lists_operations_by_path():
    capabilities = caps("storage.read:/data storage.modify:/data/user/jdoe", base_path="/vo")
    table = {
        row.path: {op: d.allowed for op, d in row.cells.items()} for row in capabilities.table()
    }
    assert table == {
        "/vo/data": {"read": True, "create": False, "modify": False, "stage": False, "poll": False},
        "/vo/data/user/jdoe": {
            "read": True,
            "create": True,
            "modify": True,
            "stage": False,
            "poll": False,
        },
    }


def test_capability_table_for_chosen_paths():
    rows = caps("storage.read:/data").table(["/data/x", "/secret"])
    assert [row.cells["read"].allowed for row in rows] == [True, False]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/data", "/data"),
        ("/data/", "/data/"),
        ("/data/run%201", "/data/run 1"),
    ],
)
def test_normalise_path_accepts_clean_paths(raw, expected):
    assert path_normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["data", "/a/./b", "/a/../b", "/a//b", "/a/%2e%2e/b", "/a%2Fb", "/a%5cb", "/a%00", "/a\\b"],
)
def test_normalise_path_refuses_traversal(raw):
    with pytest.raises(PathRejected):
        path_normalise(raw)


def test_scopes_needed_for_a_campaign_path():
    assert scopes_needed("read", "/vo/campaigns/c1", base_path="/vo") == [
        "storage.read:/campaigns/c1",
    ]
    assert scopes_needed("create", "/vo", base_path="/vo") == [
        "storage.create:/",
        "storage.modify:/",
    ]


def test_scopes_needed_outside_the_issuer_area_is_refused():
    with pytest.raises(PathRejected):
        scopes_needed("read", "/elsewhere/c1", base_path="/vo")


def test_a_scope_that_is_only_a_string_prefix_is_denied_with_a_warning():
    caps = parse_capabilities("storage.read:/c4", base_path="/data")
    decision = caps.may("read", "/data/c42/f")
    assert not decision.allowed
    assert "string prefix" in decision.warning and "XRootD" in decision.warning
    assert decision.warning in decision.rule
    covered = caps.may("read", "/data/c4/f")
    assert covered.allowed and covered.warning == ""
    unrelated = caps.may("read", "/data/d4")
    assert not unrelated.allowed and unrelated.warning == ""
    trailing = parse_capabilities("storage.read:/c4/", base_path="/").may("read", "/c42")
    assert "string prefix" in trailing.warning
