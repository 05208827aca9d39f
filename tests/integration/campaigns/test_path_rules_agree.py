"""Token capabilities and "who can read this path" use one path module and give one answer."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.storage_paths import PathRejected, path_normalise
from campaigns import services
from campaigns.selectors import AccessReason, path_access
from tokens.inspection import parse_capabilities

pytestmark = pytest.mark.django_db

SEGMENT = st.sampled_from(["a", "ab", "b", "a.b", "..", ".", "", "%2e", "c%201", "x\\y"])
RAW_PATH = st.builds(
    lambda lead, segments, slash: lead + "/".join(segments) + ("/" if slash else ""),
    st.sampled_from(["/", "", "//"]),
    st.lists(SEGMENT, max_size=4),
    st.booleans(),
)
DATA_PATH = st.lists(st.sampled_from(["a", "ab", "b"]), min_size=1, max_size=3).map(
    lambda segments: "/" + "/".join(segments)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data_path=DATA_PATH, requested=RAW_PATH)
def test_capabilities_and_path_access_agree(admin, pi, data_path, requested):
    """A public campaign on `data_path` and a token with storage.read:`data_path` allow the
    same paths, refuse the same paths, and normalise them the same way."""
    token = parse_capabilities(f"storage.read:{data_path}")
    decision_of_token = token.may("read", requested)
    with transaction.atomic():
        services.campaign_create(slug="c", title="C", pi=pi, actor=admin, data_paths=[data_path])
        try:
            access = path_access(path=requested)
        except PathRejected:
            access = None
        transaction.set_rollback(True)
    if access is None:
        assert decision_of_token.rule.startswith("Refused:")
        with pytest.raises(PathRejected):
            path_normalise(requested)
        return
    assert access.path == path_normalise(requested)
    assert access.allowed == decision_of_token.allowed, (access.explanation, decision_of_token)
    assert (access.reason == AccessReason.PUBLIC) == decision_of_token.allowed
