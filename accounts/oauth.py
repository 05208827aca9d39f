"""The one client for OAuth token endpoints: login code exchange, token refresh, SCIM client
credentials.

The client authenticates the way the provider's discovery document offers
(`token_endpoint_auth_methods_supported`, RFC 8414 §2 / OpenID Discovery §3):
`client_secret_basic` when offered or when the list is absent (the default of both specs), else
`client_secret_post`. Redirects are never followed: the grant (a code, a refresh token, the
client secret) must not be sent anywhere else. Pure Python (requests): no Django.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import requests

BASIC, POST = "client_secret_basic", "client_secret_post"


class TokenEndpointUnreachable(Exception):
    """The token endpoint did not answer (network error or timeout); try again later."""


class TokenEndpointUnsupported(Exception):
    """The provider offers no client authentication this client can do; the message says so."""


@dataclass(frozen=True)
class TokenAnswer:
    """What the token endpoint said: HTTP status and the body as a JSON object ({} if not)."""

    status: int
    body: dict = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def error(self) -> str:
        error = self.body.get("error")
        return error if isinstance(error, str) else ""


def auth_method_choose(supported: Iterable[str] | None) -> str:
    """client_secret_basic if offered or nothing is said; else client_secret_post."""
    methods = list(supported or [])
    if not methods or BASIC in methods:
        return BASIC
    if POST in methods:
        return POST
    raise TokenEndpointUnsupported(
        "The provider's token endpoint accepts only "
        + ", ".join(methods)
        + "; Gatehouse can authenticate with client_secret_basic or client_secret_post. Ask its "
        "operators to allow one of them for this client."
    )


def _basic_auth(client_id: str, client_secret: str) -> tuple[str, str]:
    # RFC 6749 §2.3.1: both are form-urlencoded before they go into the Basic header.
    return quote_plus(client_id), quote_plus(client_secret)


def token_request(
    *,
    endpoint: str,
    client_id: str,
    client_secret: str,
    grant: dict[str, str],
    auth_methods: Iterable[str] | None,
    timeout: float,
    session: requests.Session | None = None,
) -> TokenAnswer:
    """POST `grant` (grant_type and its parameters) to `endpoint` as this client.

    Raises TokenEndpointUnreachable when there is no answer, TokenEndpointUnsupported when the
    provider offers no usable client authentication. A redirect is returned as its 3xx status.
    """
    method = auth_method_choose(auth_methods)
    data, auth = dict(grant), None
    if method == BASIC:
        auth = _basic_auth(client_id, client_secret)
    else:
        data.update(client_id=client_id, client_secret=client_secret)
    try:
        response = (session or requests).post(
            endpoint,
            data=data,
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise TokenEndpointUnreachable(
            f"The token endpoint {endpoint} did not answer ({type(exc).__name__})."
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    return TokenAnswer(response.status_code, body if isinstance(body, dict) else {})
