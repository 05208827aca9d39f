"""Real loopback servers and signing keys for the inspection tests and benchmark.

Not used by the portal itself. Everything listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class LoopbackJsonServer:
    """Serves fixed JSON documents by path and counts every request it receives."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.requests: Counter[str] = Counter()
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests[self.path] += 1
                document = server.documents.get(self.path)
                status = 503 if server.down else 200 if document is not None else 404
                body = json.dumps(document if status == 200 else {"error": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def start(self) -> LoopbackJsonServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackJsonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def public_jwk(private_key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    jwk.update({"kid": kid, "use": "sig"})
    if alg:
        jwk["alg"] = alg
    return jwk


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


class LoopbackIssuer(LoopbackJsonServer):
    """An OpenID issuer on loopback: discovery document, JWKS, and keys that sign tokens."""

    def __init__(self, *, keys: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.private_keys: dict[str, Any] = (
            keys if keys is not None else {"rsa1": rsa_key(), "ec1": ec_key()}
        )
        self.documents["/.well-known/openid-configuration"] = {
            "issuer": self.issuer,
            "jwks_uri": self.base_url + "/jwks",
            "token_endpoint": self.base_url + "/token",
        }
        self.publish()

    @property
    def issuer(self) -> str:
        return self.base_url

    def publish(self, kids: list[str] | None = None) -> None:
        """(Re)publish the JWKS with the given kids (all by default)."""
        chosen = self.private_keys if kids is None else {k: self.private_keys[k] for k in kids}
        self.documents["/jwks"] = {"keys": [public_jwk(key, kid) for kid, key in chosen.items()]}

    @property
    def discovery_requests(self) -> int:
        return self.requests["/.well-known/openid-configuration"]

    @property
    def jwks_requests(self) -> int:
        return self.requests["/jwks"]

    def claims(self, now: float | None = None, **overrides: Any) -> dict[str, Any]:
        """A complete WLCG 1.0 access token's claims; `None` values remove a claim."""
        moment = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "wlcg.ver": "1.0",
            "iss": self.issuer,
            "sub": "a1b98335-9649-4fb0-961d-5a49ce108d49",
            "aud": "https://storage.example.org",
            "iat": moment,
            "nbf": moment,
            "exp": moment + 1200,
            "jti": "40ce5a87-e419-4bdf-9e11-61dfb160f89d",
            "scope": "openid storage.read:/data storage.create:/data/upload",
            "client_id": "gatehouse-test",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str = "rsa1",
        alg: str | None = None,
        headers: dict[str, Any] | None = None,
        key: Any = None,
    ) -> str:
        private = key if key is not None else self.private_keys[kid]
        if alg is None:
            alg = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid, **(headers or {})})
