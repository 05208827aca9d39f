"""STAND-IN token issuer over TLS, for the XRootD harness self-test only.

This is not Gatehouse's storage-token issuer. It exists so that the XRootD/SciTokens harness
(tests/harness/xrootd.py) can be proven with real storage before, and independently of,
Gatehouse's own issuer: the loopback issuer from jwks_server.py (discovery + JWKS, keys made
with `cryptography`, tokens signed with PyJWT) served over HTTPS with a throwaway CA, since
scitokens-cpp fetches keys over HTTPS only.
"""

from __future__ import annotations

import ssl
from typing import Any

from tests.harness.jwks_server import LoopbackIssuer, ec_key


class TlsLoopbackIssuer(LoopbackIssuer):
    """LoopbackIssuer whose listening socket speaks TLS; its issuer URL is https://127.0.0.1:PORT."""

    def __init__(self, *, context: ssl.SSLContext, keys: dict[str, Any] | None = None) -> None:
        super().__init__(keys=keys if keys is not None else {"ec1": ec_key()})
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"https://{host}:{port}"
