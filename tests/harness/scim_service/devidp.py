"""Tokens for the loopback SCIM service from the dev IdP (tests/harness/idp.py).

SCIM_CLIENT may use client_credentials with scim:read; OTHER_CLIENT may not. `signed_token`
signs claims with the IdP's own RS256 key, for the expired / wrong-audience / no-scope tokens
a real provider would not hand out on request.
"""

import json
import time

import jwt
import requests

SCIM_CLIENT = {
    "client_id": "gatehouse-scim",
    "client_secret": "scim-secret",
    "client_name": "Gatehouse SCIM sync",
    "grant_types": ["client_credentials"],
    "scope": "scim:read",
}
OTHER_CLIENT = {
    "client_id": "robot",
    "client_secret": "robot-secret",
    "grant_types": ["client_credentials"],
    "scope": "wlcg storage.read:/",
}


def client_credentials_token(idp, client: dict = SCIM_CLIENT, scope: str = "scim:read") -> str:
    token_endpoint = idp.discovery()["token_endpoint"]
    response = requests.post(
        token_endpoint,
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def signed_token(idp, **claims: object) -> str:
    """A JWT signed with the IdP's RS256 key: scim:read for the SCIM audience unless overridden."""
    keys = json.loads(idp.jwks_path.read_text())["keys"]
    private = next(k for k in keys if k.get("kty") == "RSA")
    key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(private))
    now = int(time.time())
    body = {
        "iss": idp.issuer,
        "sub": SCIM_CLIENT["client_id"],
        "aud": idp.scim_audience,
        "iat": now,
        "exp": now + 300,
        "jti": f"test-{now}",
        "scope": "scim:read",
    } | claims
    return jwt.encode(
        body, key, algorithm="RS256", headers={"kid": private.get("kid"), "typ": "at+jwt"}
    )
