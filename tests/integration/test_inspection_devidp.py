"""The inspector against the real dev OpenID provider (node-oidc-provider): its discovery, its
JWKS and the WLCG access tokens it issues."""

import pytest
import requests

from tests.harness.idp import start_idp
from tokens.inspection import JwksCache, Status, TrustedIssuer, inspect_token

ROBOT = {
    "client_id": "robot",
    "client_secret": "robot-secret",
    "grant_types": ["client_credentials"],
    "scope": "wlcg storage.read:/ storage.create:/data",
}


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp"), clients=[ROBOT], users=[], access_token_ttl=600
    ) as running:
        yield running


@pytest.fixture(scope="module")
def robot_token(idp) -> str:
    response = requests.post(
        idp.discovery()["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "scope": "wlcg storage.read:/ storage.create:/data",
        },
        auth=(ROBOT["client_id"], ROBOT["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def test_dev_idp_access_token_is_valid(idp, robot_token):
    issuer = TrustedIssuer(idp.issuer, storage_base_path="/vo")
    result = inspect_token(robot_token, issuers=[issuer], jwks=JwksCache(), audience=None)
    assert result.valid, [c for c in result.checks if c.status is Status.FAIL]
    assert result.check("signature").status is Status.PASS
    assert result.check("wlcg").status is Status.PASS
    assert result.check("rfc9068").explanation.startswith("An RFC 9068 access token")
    assert result.capabilities.may("create", "/vo/data/new").allowed
    assert not result.capabilities.may("modify", "/vo/data/new").allowed


def test_dev_idp_token_with_the_issuer_misconfigured_by_a_slash(idp, robot_token):
    other_spelling = idp.issuer[:-1] if idp.issuer.endswith("/") else idp.issuer + "/"
    result = inspect_token(
        robot_token, issuers=[TrustedIssuer(other_spelling)], jwks=JwksCache(), audience=None
    )
    assert not result.valid
    assert "only by a trailing slash" in result.check("iss").explanation
