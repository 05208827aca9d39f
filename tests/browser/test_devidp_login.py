"""The dev IdP's login and sign-out pages work in headless Chromium."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.harness.idp import start_idp

CLIENT = "http://127.0.0.1:8000"
WEB = {
    "client_id": "gatehouse-browser",
    "client_secret": "browser-secret",
    "client_name": "Gatehouse",
    "redirect_uris": [f"{CLIENT}/oidc/callback/"],
    "post_logout_redirect_uris": [f"{CLIENT}/"],
}
CAROL = {
    "sub": "c4r01-0000",
    "username": "carol",
    "password": "carol-pw",
    "email": "carol@example.org",
    "name": "Carol Cooper",
}

pytestmark = pytest.mark.browser


@pytest.fixture
def idp(tmp_path):
    with start_idp(
        workdir=tmp_path, clients=[WEB], users=[CAROL], display_name="Dev IAM"
    ) as running:
        yield running


def test_sign_in_with_a_wrong_then_right_password_and_sign_out(browser, idp):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    # The client side is not running here: answer its URLs in the browser (the only stand-in).
    arrived = []
    page.route(
        f"{CLIENT}/**", lambda route: (arrived.append(route.request.url), route.fulfill(body="ok"))
    )
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = {
        "response_type": "code",
        "client_id": WEB["client_id"],
        "redirect_uri": WEB["redirect_uris"][0],
        "scope": "openid profile",
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    document = idp.discovery()
    page.goto(document["authorization_endpoint"] + "?" + urlencode(query))

    assert page.get_by_role("heading").inner_text() == "Dev IAM"
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    assert "username or password is not right" in page.get_by_role("alert").inner_text()

    page.get_by_label("Password").fill("carol-pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{CLIENT}/oidc/callback/**")
    callback = parse_qs(urlsplit(arrived[-1]).query)
    assert callback["state"] == ["s-1"]
    assert callback["code"][0]

    logout = {
        "client_id": WEB["client_id"],
        "post_logout_redirect_uri": f"{CLIENT}/",
        "state": "bye",
    }
    page.goto(document["end_session_endpoint"] + "?" + urlencode(logout))
    page.wait_for_url(f"{CLIENT}/?state=bye")
    context.close()
