"""Harness self-test: the `scitokens` Python library judges the same cases as XRootD, against
the same STAND-IN issuer's discovery and JWKS over TLS (see test_xrootd_standin.py)."""

import pytest

from tests.harness.jwks_server import ec_key
from tests.harness.scitokens_python import python_verify
from tests.integration.storage_tokens.xrootd.conftest import AUDIENCE
from tests.integration.storage_tokens.xrootd.standin_cases import (
    READ_CASES,
    UPLOAD_CASES,
    Case,
    new_name,
)


@pytest.mark.parametrize("case", READ_CASES + UPLOAD_CASES, ids=lambda case: case.name)
def test_same_verdict_as_expected(python_scitokens, standin_issuer, case: Case):
    path = case.path or new_name()

    verdict = python_verify(
        case.token(standin_issuer),
        issuer=standin_issuer.issuer,
        audience=AUDIENCE,
        operation=case.operation,
        path=path,
    )

    assert verdict.allowed is case.python_allowed, verdict.reason


def test_a_token_from_another_issuer_is_refused(python_scitokens, standin_issuer):
    case = Case("read", "storage.read:/c", "storage.read", "/c/embargoed.dat", 200, True)

    verdict = python_verify(
        case.token(standin_issuer),
        issuer="https://issuer.example.org",
        audience=AUDIENCE,
        operation="storage.read",
        path=case.path,
    )

    assert not verdict.allowed
    assert "iss" in verdict.reason


def test_the_library_refetches_for_an_unknown_kid(python_scitokens, standin_issuer):
    """Unlike scitokens-cpp 0.7.3, the Python library looks a new `kid` up at once."""
    standin_issuer.private_keys["ec-python-late"] = ec_key()
    standin_issuer.publish()
    case = Case(
        "late",
        "storage.read:/c",
        "storage.read",
        "/c/embargoed.dat",
        200,
        True,
        kid="ec-python-late",
    )

    verdict = python_verify(
        case.token(standin_issuer),
        issuer=standin_issuer.issuer,
        audience=AUDIENCE,
        operation="storage.read",
        path=case.path,
    )

    assert verdict.allowed, verdict.reason
