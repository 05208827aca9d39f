"""A misbehaving OpenID provider on loopback (stdlib http.server in a thread).

It stands in for a broken or malicious provider in tests of the portal's ID token checks: a
certified provider (the dev IdP is node-oidc-provider) cannot be made to send bad tokens. It
serves discovery, a JWKS, a token endpoint that returns whatever ID token the test crafts, and
userinfo. There is no login page: `authorize(url)` plays the provider's part of the redirect.

    with start_rogue_idp() as rogue:
        rogue.id_token_claims["aud"] = "someone-else"   # the next ID token will carry this
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLIENT_ID = "gatehouse-rogue"
CLIENT_SECRET = "rogue-client-secret-long-enough-for-hmac"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _public_jwk(key, kid: str, alg: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@dataclass
class RogueIdP:
    """The provider's knobs; change them between `authorize` and the callback."""

    sub: str = "rogue-user-1"
    userinfo: dict = field(
        default_factory=lambda: {
            "preferred_username": "Rosa.Rogue",
            "email": "rosa@example.org",
            "name": "Rosa Rogue",
        }
    )
    id_token_claims: dict = field(default_factory=dict)  # merged over the good claims
    id_token_header: dict = field(default_factory=dict)
    sign_with: str = "rsa"  # rsa, ec, stranger (unpublished key, published kid), none, hs256
    userinfo_sub: str | None = None  # a different sub at userinfo
    userinfo_signed_with: str = ""  # "rsa" or "stranger": answer userinfo as a signed JWT
    port: int = 0
    nonce: str = ""
    code_challenge: str = ""
    token_requests: list = field(default_factory=list)
    jwks_requests: int = 0  # how often its key set was fetched
    codes: dict = field(default_factory=dict)  # code -> (nonce, code_challenge)

    def __post_init__(self) -> None:
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/logout",
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def jwks(self) -> dict:
        return {
            "keys": [
                _public_jwk(self.rsa_key, "rogue-rsa", "RS256"),
                _public_jwk(self.ec_key, "rogue-ec", "ES256"),
            ]
        }

    def idpsecrets_entry(self, **extra) -> dict:
        """This provider's entry for idpsecrets.json (nickname of your choice)."""
        return {
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [],
            "display_name": "Rogue IdP",
            **extra,
        }

    def authorize(self, url: str) -> dict:
        """Play the provider: remember nonce and PKCE challenge, return the callback's query."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        self.nonce = query.get("nonce", "")
        self.code_challenge = query.get("code_challenge", "")
        code = secrets.token_urlsafe(16)
        self.codes[code] = (self.nonce, self.code_challenge)
        return {"code": code, "state": query["state"], "iss": self.issuer}

    def id_token(self, nonce: str = "") -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce or self.nonce,
            **self.id_token_claims,
        }
        if self.sign_with == "none":
            return _compact({"alg": "none", "typ": "JWT", **self.id_token_header}, claims) + "."
        if "alg" in self.id_token_header:  # a header PyJWT would not write: sign it by hand, RS256
            signing_input = _compact({"kid": "rogue-rsa", **self.id_token_header}, claims)
            rs256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
            signature = rs256.sign(signing_input.encode(), self.rsa_key)
            return f"{signing_input}.{_b64(signature)}"
        if self.sign_with == "hs256":  # the classic: the client secret as an HMAC key
            headers = {"kid": "rogue-rsa", **self.id_token_header}
            return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers=headers)
        key, kid, alg = {
            "rsa": (self.rsa_key, "rogue-rsa", "RS256"),
            "ec": (self.ec_key, "rogue-ec", "ES256"),
            "stranger": (self.stranger_key, "rogue-rsa", "RS256"),
        }[self.sign_with]
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, **self.id_token_header})

    def token_response(self, form: dict) -> dict:
        nonce, challenge = self.codes.get(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        self.token_requests.append({**form, "pkce_ok": digest.decode() == challenge})
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_token": secrets.token_urlsafe(32),
            "scope": "openid profile email offline_access",
            "id_token": self.id_token(nonce),
        }

    def userinfo_response(self) -> dict:
        return {"sub": self.userinfo_sub or self.sub, **self.userinfo}

    def userinfo_jwt(self) -> str:
        key = self.rsa_key if self.userinfo_signed_with == "rsa" else self.stranger_key
        claims = {"iss": self.issuer, "aud": CLIENT_ID, **self.userinfo_response()}
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "rogue-rsa"})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _handler(rogue: RogueIdP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # quiet: tests read assertions, not access logs
            pass

        def _json(self, body: dict, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                return self._json(rogue.discovery())
            if path == "/jwks":
                rogue.jwks_requests += 1
                return self._json(rogue.jwks())
            if path == "/userinfo" and rogue.userinfo_signed_with:
                data = rogue.userinfo_jwt().encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwt")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                return self.wfile.write(data)
            if path == "/userinfo":
                return self._json(rogue.userinfo_response())
            return self._json({"error": "not_found"}, 404)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                return self._json(rogue.token_response(form))
            return self._json({"error": "not_found"}, 404)

    return Handler


def start_rogue_idp(**knobs) -> RogueIdP:
    rogue = RogueIdP(**knobs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rogue))
    server.daemon_threads = True
    rogue.port = server.server_address[1]
    rogue._server = server
    threading.Thread(target=server.serve_forever, name="rogue-idp", daemon=True).start()
    return rogue
