"""The dev IdP (devidp/server.mjs) is a real OpenID provider: drive its flows over HTTP."""

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness.idp import LoginForm, start_idp

REDIRECT_URI = "http://127.0.0.1:8000/oidc/callback/"
HOME = "http://127.0.0.1:8000/"
WEB = {
    "client_id": "gatehouse-test",
    "client_secret": "web-secret",
    "client_name": "Gatehouse",
    "redirect_uris": [REDIRECT_URI],
    "post_logout_redirect_uris": [HOME],
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "openid profile email offline_access wlcg wlcg.groups storage.read:/ storage.create:/data",
    "token_endpoint_auth_method": "client_secret_basic",
}
SCIM = {
    "client_id": "gatehouse-scim",
    "client_secret": "scim-secret",
    "grant_types": ["client_credentials"],
    "scope": "scim:read",
}
ROBOT = {
    "client_id": "robot",
    "client_secret": "robot-secret",
    "grant_types": ["client_credentials"],
    "scope": "wlcg storage.read:/",
}
USERS = [
    {
        "sub": "5d0c6e0a-alice",
        "username": "alice",
        "password": "alice-pw",
        "email": "alice@example.org",
        "email_verified": True,
        "name": "Alice Archer",
        "given_name": "Alice",
        "family_name": "Archer",
        "groups": ["gatehouse", "gatehouse/pi"],
    },
    {
        "sub": "77b1f3c2-bob",
        "username": "bob",
        "password": "bob-pw",
        "email": "bob@example.org",
        "name": "Bob Baker",
        "given_name": "Bob",
        "family_name": "Baker",
        "groups": [],
    },
]
LOGIN_SCOPE = "openid profile email offline_access wlcg.groups storage.read:/ storage.create:/data"
ALGORITHMS = ["RS256", "ES256"]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp"),
        clients=[WEB, SCIM, ROBOT],
        users=USERS,
        display_name="Dev IAM",
        access_token_ttl=600,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def rotating_idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp-rotating"),
        clients=[WEB],
        users=USERS,
        display_name="Rotating IAM",
        rotate_refresh_token=True,
    ) as running:
        yield running


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(idp, *, scope=LOGIN_SCOPE, state="st-1", nonce="n-1", challenge=None) -> str:
    params = {
        "response_type": "code",
        "client_id": WEB["client_id"],
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": state,
        "nonce": nonce,
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return idp.discovery()["authorization_endpoint"] + "?" + urlencode(params)


def token_request(idp, client, **data) -> requests.Response:
    return requests.post(
        idp.discovery()["token_endpoint"],
        data=data,
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def sign_in(idp, *, username="alice", password="alice-pw", scope=LOGIN_SCOPE, session=None):
    """Run the whole code flow; return (token response, nonce, browser session)."""
    session = session or requests.Session()
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    url = authorize_url(idp, scope=scope, state=state, nonce=nonce, challenge=challenge)
    callback = idp.login(url, username=username, password=password, session=session)
    assert callback.startswith(REDIRECT_URI)
    query = parse_qs(urlsplit(callback).query)
    assert query["state"] == [state]
    assert query["iss"] == [idp.issuer]
    response = token_request(
        idp,
        WEB,
        grant_type="authorization_code",
        code=query["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return response.json(), nonce, session


def verify(idp, token: str, *, audience: str) -> dict:
    key = jwt.PyJWKClient(idp.discovery()["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        audience=audience,
        issuer=idp.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )


def test_discovery_document(idp):
    document = idp.discovery()
    assert document["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}/"
    for name in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ]:
        assert document[name].startswith(f"http://127.0.0.1:{idp.port}/"), name
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        document["grant_types_supported"]
    )
    assert {"openid", "offline_access", "scim:read"} <= set(document["scopes_supported"])


def test_jwks_has_public_rs256_and_es256_keys(idp):
    keys = requests.get(idp.discovery()["jwks_uri"], timeout=10).json()["keys"]
    assert sorted((key["kty"], key["alg"]) for key in keys) == [("EC", "ES256"), ("RSA", "RS256")]
    assert next(key for key in keys if key["kty"] == "EC")["crv"] == "P-256"
    assert all("d" not in key for key in keys)
    assert idp.jwks_path.stat().st_mode & 0o077 == 0
    private = json.loads(idp.jwks_path.read_text())["keys"]
    assert {key["kid"] for key in private} == {key["kid"] for key in keys}
    assert all("d" in key for key in private)


def test_keys_file_is_reused_on_restart(idp, tmp_path):
    served = requests.get(idp.discovery()["jwks_uri"], timeout=10).json()
    with start_idp(
        workdir=tmp_path, clients=[WEB], users=USERS, display_name="Again", keys_file=idp.jwks_path
    ) as again:
        assert requests.get(again.discovery()["jwks_uri"], timeout=10).json() == served


def test_unknown_config_keys_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="unknown config keys: colour"):
        start_idp(workdir=tmp_path, clients=[WEB], users=USERS, display_name="X", colour="blue")


@pytest.mark.parametrize("issuer_path", ["", "/realms/dev", "/realms/dev/"])
def test_issuer_with_and_without_path_or_slash(tmp_path, issuer_path):
    with start_idp(
        workdir=tmp_path,
        clients=[WEB],
        users=USERS,
        display_name="Path IAM",
        issuer_path=issuer_path,
    ) as path_idp:
        document = path_idp.discovery()
        assert document["issuer"] == path_idp.issuer
        assert path_idp.issuer == f"http://127.0.0.1:{path_idp.port}{issuer_path}"
        base = path_idp.issuer.rstrip("/")
        assert document["token_endpoint"] == base + "/token"
        tokens, nonce, _ = sign_in(path_idp)
        claims = verify(path_idp, tokens["id_token"], audience=WEB["client_id"])
        assert claims["iss"] == path_idp.issuer
        assert claims["nonce"] == nonce


def test_code_flow_gives_verified_id_token(idp):
    tokens, nonce, _ = sign_in(idp)
    claims = verify(idp, tokens["id_token"], audience=WEB["client_id"])
    assert claims["nonce"] == nonce
    assert claims["sub"] == "5d0c6e0a-alice"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.org"
    assert claims["name"] == "Alice Archer"
    assert tokens["token_type"] == "Bearer"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(idp, tokens["id_token"], audience="someone-else")


def test_login_access_token_is_wlcg_jwt(idp):
    tokens, _, _ = sign_in(idp)
    token = tokens["access_token"]
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = verify(idp, token, audience=idp.token_audience)
    assert claims["aud"] == "https://wlcg.cern.ch/jwt/v1/any"
    assert claims["sub"] == "5d0c6e0a-alice"
    assert claims["wlcg.ver"] == "1.0"
    assert claims["client_id"] == WEB["client_id"]
    assert claims["jti"]
    assert claims["exp"] - claims["iat"] == 600
    assert set(claims["scope"].split()) == set(LOGIN_SCOPE.split())
    assert claims["wlcg.groups"] == ["/gatehouse", "/gatehouse/pi"]


def test_userinfo_accepts_the_login_access_token(idp):
    tokens, _, _ = sign_in(idp)
    response = requests.get(
        idp.discovery()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "sub": "5d0c6e0a-alice",
        "name": "Alice Archer",
        "given_name": "Alice",
        "family_name": "Archer",
        "preferred_username": "alice",
        "groups": ["gatehouse", "gatehouse/pi"],
        "email": "alice@example.org",
        "email_verified": True,
        "wlcg.groups": ["/gatehouse", "/gatehouse/pi"],
    }


def test_userinfo_refuses_a_token_signed_by_another_key(idp):
    tokens, _, _ = sign_in(idp)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"typ": "at+jwt"})
    response = requests.get(
        idp.discovery()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {forged}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_storage_scopes_for_sub_paths_only_within_what_the_client_may_ask(idp):
    scope = (
        "openid storage.read:/data/campaign-x storage.create:/data/run1 storage.modify:/"
        " storage.create:/database storage.create:/data/../etc"
    )
    tokens, _, _ = sign_in(idp, scope=scope)
    claims = verify(idp, tokens["access_token"], audience=idp.token_audience)
    assert set(claims["scope"].split()) == {
        "openid",
        "storage.read:/data/campaign-x",
        "storage.create:/data/run1",
    }
    assert "wlcg.groups" not in claims


def test_resource_indicator_sets_another_audience(idp):
    session = requests.Session()
    verifier, challenge = pkce_pair()
    url = authorize_url(idp, scope="openid storage.read:/", challenge=challenge)
    url += "&" + urlencode({"resource": "https://dcache.example.org:2880/"})
    code = parse_qs(
        urlsplit(idp.login(url, username="bob", password="bob-pw", session=session)).query
    )
    response = token_request(
        idp,
        WEB,
        grant_type="authorization_code",
        code=code["code"][0],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier,
    )
    claims = verify(
        idp, response.json()["access_token"], audience="https://dcache.example.org:2880/"
    )
    assert claims["sub"] == "77b1f3c2-bob"
    assert claims["scope"] == "openid storage.read:/"


def test_pkce_is_required(idp):
    url = authorize_url(idp, challenge=None)
    callback = idp.login(url, username="alice", password="alice-pw")
    query = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT_URI)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]


def test_wrong_password_shows_the_error_on_the_login_page(idp):
    session = requests.Session()
    _, challenge = pkce_pair()
    page = session.get(authorize_url(idp, challenge=challenge), timeout=10)
    assert page.status_code == 200
    assert "Dev IAM" in page.text
    assert '<input id="login" name="login"' in page.text
    assert 'name="password" type="password"' in page.text
    assert ">Sign in</button>" in page.text
    form = LoginForm.parse(page.text)
    response = session.post(
        requests.compat.urljoin(page.url, form.action),
        data={"login": "alice", "password": "wrong"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 200
    assert "The username or password is not right." in LoginForm.parse(response.text).error
    assert 'value="alice"' in response.text


def test_refresh_token_without_rotation_stays_valid(idp):
    tokens, _, _ = sign_in(idp)
    first = tokens["refresh_token"]
    refreshed = token_request(idp, WEB, grant_type="refresh_token", refresh_token=first)
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] == first
    claims = verify(idp, body["access_token"], audience=idp.token_audience)
    old_claims = verify(idp, tokens["access_token"], audience=idp.token_audience)
    assert claims["jti"] != old_claims["jti"]
    assert claims["wlcg.ver"] == "1.0"
    assert "storage.read:/" in claims["scope"].split()
    again = token_request(idp, WEB, grant_type="refresh_token", refresh_token=first)
    assert again.status_code == 200, again.text


def test_no_refresh_token_without_offline_access(idp):
    tokens, _, _ = sign_in(idp, scope="openid profile")
    assert "refresh_token" not in tokens


def test_refresh_token_rotation_refuses_the_old_token(rotating_idp):
    tokens, _, _ = sign_in(rotating_idp)
    first = tokens["refresh_token"]
    refreshed = token_request(rotating_idp, WEB, grant_type="refresh_token", refresh_token=first)
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()["refresh_token"]
    assert second != first
    reused = token_request(rotating_idp, WEB, grant_type="refresh_token", refresh_token=first)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # Reuse of a rotated token revokes the whole grant, the newest refresh token included.
    after = token_request(rotating_idp, WEB, grant_type="refresh_token", refresh_token=second)
    assert after.json()["error"] == "invalid_grant"


def test_revoked_refresh_token_is_refused(idp):
    tokens, _, _ = sign_in(idp)
    refresh_token = tokens["refresh_token"]
    document = idp.discovery()
    auth = (WEB["client_id"], WEB["client_secret"])
    introspect = {"token": refresh_token, "token_type_hint": "refresh_token"}
    active = requests.post(
        document["introspection_endpoint"], data=introspect, auth=auth, timeout=10
    )
    assert active.json()["active"] is True
    assert active.json()["sub"] == "5d0c6e0a-alice"
    revoked = requests.post(document["revocation_endpoint"], data=introspect, auth=auth, timeout=10)
    assert revoked.status_code == 200
    after = requests.post(
        document["introspection_endpoint"], data=introspect, auth=auth, timeout=10
    )
    assert after.json() == {"active": False}
    refused = token_request(idp, WEB, grant_type="refresh_token", refresh_token=refresh_token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_client_credentials_scim_read_token_verifies_against_jwks(idp):
    response = token_request(idp, SCIM, grant_type="client_credentials", scope="scim:read")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "scim:read"
    # What the SCIM service does: verify against the issuer's JWKS, check aud and scope.
    claims = verify(idp, body["access_token"], audience=idp.scim_audience)
    assert idp.scim_audience == f"http://127.0.0.1:{idp.port}/scim"
    assert claims["sub"] == SCIM["client_id"]
    assert claims["scope"].split() == ["scim:read"]
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


def test_client_credentials_refuses_scim_read_to_other_clients(idp):
    response = token_request(idp, ROBOT, grant_type="client_credentials", scope="scim:read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_token_endpoint_refuses_a_wrong_client_secret(idp):
    response = requests.post(
        idp.discovery()["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "scim:read"},
        auth=(SCIM["client_id"], "not-the-secret"),
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_rp_initiated_logout_returns_to_the_registered_uri(idp):
    tokens, _, session = sign_in(idp)
    end_session = idp.discovery()["end_session_endpoint"]
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": HOME,
        "state": "bye",
    }
    page = session.get(end_session, params=params, timeout=10)
    assert page.status_code == 200
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text).group(1)
    done = session.post(
        requests.compat.urljoin(page.url, action),
        data={"xsrf": xsrf, "logout": "yes"},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 303
    assert done.headers["Location"] == HOME + "?state=bye"
    # The provider session is gone: the next authorization asks for a password again.
    _, challenge = pkce_pair()
    again = session.get(authorize_url(idp, challenge=challenge), timeout=10)
    assert LoginForm.parse(again.text).action is not None


def test_rp_initiated_logout_refuses_an_unregistered_uri(idp):
    tokens, _, session = sign_in(idp)
    response = session.get(
        idp.discovery()["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://evil.test/",
        },
        timeout=10,
    )
    assert response.status_code == 400
    assert "post_logout_redirect_uri not registered" in response.text
