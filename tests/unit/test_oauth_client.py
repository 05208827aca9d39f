"""The one token-endpoint client: which client authentication it picks, and no redirects."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from accounts.oauth import (
    BASIC,
    POST,
    TokenEndpointUnreachable,
    TokenEndpointUnsupported,
    auth_method_choose,
    token_request,
)


@pytest.mark.parametrize(
    ("supported", "chosen"),
    [
        (None, BASIC),
        ([], BASIC),
        ([BASIC], BASIC),
        ([POST, BASIC], BASIC),
        ([POST], POST),
        (["private_key_jwt", POST], POST),
    ],
)
def test_basic_unless_only_post_is_offered(supported, chosen):
    assert auth_method_choose(supported) == chosen


def test_a_provider_without_basic_or_post_is_refused_with_a_sentence():
    with pytest.raises(TokenEndpointUnsupported, match="Ask its operators"):
        auth_method_choose(["private_key_jwt"])


class Endpoint:
    """A loopback token endpoint that records what it was sent; /moved redirects to /token."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.seen.append((self.path, form, self.headers.get("Authorization", "")))
                if self.path == "/moved":
                    self.send_response(307)
                    self.send_header("Location", "/token")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"access_token": "a", "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    running = Endpoint()
    yield running
    running.close()


def ask(endpoint, path: str, methods):
    return token_request(
        endpoint=endpoint.url + path,
        client_id="portal client",
        client_secret="s3cret:+/",
        grant={"grant_type": "refresh_token", "refresh_token": "r"},
        auth_methods=methods,
        timeout=5,
    )


def test_basic_sends_form_encoded_credentials_in_the_header_only(endpoint):
    answer = ask(endpoint, "/token", [BASIC])
    assert answer.ok and answer.body["access_token"] == "a"
    ((_, form, authorization),) = endpoint.seen
    assert "client_secret" not in form and "client_id" not in form
    decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
    assert decoded == "portal+client:s3cret%3A%2B%2F"  # RFC 6749 2.3.1


def test_post_sends_the_credentials_in_the_body_only(endpoint):
    assert ask(endpoint, "/token", [POST]).ok
    ((_, form, authorization),) = endpoint.seen
    assert authorization == ""
    assert form["client_id"] == "portal client" and form["client_secret"] == "s3cret:+/"
    assert form["refresh_token"] == "r"


def test_a_redirect_is_never_followed(endpoint):
    answer = ask(endpoint, "/moved", [POST])
    assert answer.status == 307 and not answer.ok
    assert [path for path, _form, _auth in endpoint.seen] == ["/moved"]


def test_no_answer_is_a_sentence_not_a_traceback():
    with pytest.raises(TokenEndpointUnreachable, match="did not answer"):
        token_request(
            endpoint="http://127.0.0.1:9/token",
            client_id="c",
            client_secret="s",
            grant={"grant_type": "client_credentials"},
            auth_methods=None,
            timeout=2,
        )
