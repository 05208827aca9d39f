"""Assertions that say why XRootD answered as it did, so a refusal caused by a broken harness
(issuer unreachable, CA not trusted) can never pass for a refusal of the token."""

from tests.harness.xrootd import HttpResult, RunningXrootd

SCOPE = "scope"  # a valid token whose scopes do not cover the request


def assert_xrootd_answer(
    xrootd: RunningXrootd, mark: int, result: HttpResult, *, status: int, refusal: str = ""
) -> None:
    errors = xrootd.token_errors_since(mark)
    context = f"XRootD log since the request:\n{xrootd.log_since(mark)[-3000:]}"
    assert result.status == status, context
    if status == 200 or refusal == SCOPE:
        assert errors == [], context
    else:
        assert refusal, "a refused case must say why"
        assert any(refusal in line for line in errors), context
