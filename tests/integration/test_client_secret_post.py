"""A provider whose token endpoint accepts only client_secret_post (a real node-oidc-provider,
configured so: its discovery says `token_endpoint_auth_methods_supported: [client_secret_post]`).

The one token-endpoint client (accounts/oauth.py) serves login, refresh and SCIM's client
credentials, so all three work there; the provider really refuses Basic (checked first).
"""

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.utils import timezone

from accounts.oauth import BASIC, POST, token_request
from accounts.scim.client import ClientCredentials, ScimReadError
from tests.harness.idp import start_idp
from tests.harness.idpsecrets import use_idpsecrets
from tests.integration.test_login_devidp import provider_login
from tokens.models import Token
from tokens.services import tokens_refresh

pytestmark = pytest.mark.django_db

PORTAL = {
    "client_id": "gatehouse-post",
    "client_secret": "post-secret/with+odd=chars",
    "redirect_uris": ["http://testserver/oidc/callback/"],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid profile email offline_access",
}
SCIM = {
    "client_id": "gatehouse-scim-post",
    "client_secret": "scim-post-secret",
    "grant_types": ["client_credentials"],
    "scope": "scim:read",
}
PAT = {
    "sub": "p0st-0001",
    "username": "pat",
    "password": "pat-pw",
    "email": "pat@example.org",
    "name": "Pat Post",
    "given_name": "Pat",
    "family_name": "Post",
}


@pytest.fixture(scope="module")
def post_only_idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("idp-post-only"),
        clients=[PORTAL, SCIM],
        users=[PAT],
        client_auth_methods=[POST],
    ) as running:
        yield running


@pytest.fixture
def portal_uses_it(post_only_idp, settings, tmp_path):
    entry = {
        "issuer": post_only_idp.issuer,
        "client_id": PORTAL["client_id"],
        "client_secret": PORTAL["client_secret"],
        "redirect_uris": ["https://rucio-auth.example.org/auth/oidc_code"],
        "unknown_users": "auto",
        "SCIM": {"client_id": SCIM["client_id"], "client_secret": SCIM["client_secret"]},
    }
    return use_idpsecrets(settings, tmp_path / "idpsecrets.json", {"post": entry})["post"]


def test_the_provider_offers_only_post_and_refuses_basic(post_only_idp):
    document = post_only_idp.discovery()
    assert document["token_endpoint_auth_methods_supported"] == [POST]
    grant = {"grant_type": "client_credentials", "scope": "scim:read"}
    refused = token_request(
        endpoint=document["token_endpoint"],
        client_id=SCIM["client_id"],
        client_secret=SCIM["client_secret"],
        grant=grant,
        auth_methods=[BASIC],  # what the refresh used to do whatever discovery said
        timeout=10,
    )
    assert refused.status == 401 and refused.error == "invalid_client"


def test_login_then_refresh_at_a_post_only_provider(client, portal_uses_it, post_only_idp):
    response = provider_login(client, post_only_idp, PAT, nickname="post")
    assert response.status_code == 302, response.content[:2000]
    assert SESSION_KEY in client.session
    token = Token.objects.get(idp="post")
    assert token.refresh_token and token.account.name == "pat"
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(minutes=1))

    report = tokens_refresh(within=timedelta(minutes=6))
    assert (report.refreshed, report.refused, report.unreachable) == (1, 0, 0), report
    fresh = Token.objects.exclude(pk=token.pk).get(idp="post")
    assert fresh.refresh_token and fresh.token != token.token


def test_scim_client_credentials_at_a_post_only_provider(portal_uses_it, post_only_idp):
    document = post_only_idp.discovery()
    ClientCredentials.forget_all()
    credentials = ClientCredentials(
        token_endpoint=document["token_endpoint"],
        client_id=SCIM["client_id"],
        client_secret=SCIM["client_secret"],
        auth_methods=document["token_endpoint_auth_methods_supported"],
    )
    assert credentials.token().count(".") == 2  # a JWT access token
    ClientCredentials.forget_all()
    basic_only = ClientCredentials(
        token_endpoint=document["token_endpoint"],
        client_id=SCIM["client_id"],
        client_secret=SCIM["client_secret"],
        auth_methods=[BASIC],
    )
    with pytest.raises(ScimReadError, match="refused"):
        basic_only.token()
    ClientCredentials.forget_all()
