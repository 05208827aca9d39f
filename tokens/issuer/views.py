"""The issuer's machine endpoints: discovery (OpenID and RFC 8414), JWKS, and the token endpoint.

The token endpoint is CSRF-exempt: it is called by programs, which authenticate with client
credentials or a subject token, never with a session cookie. Its answers are JSON in every
case (RFC 6749 §5.2 errors with an `error_description`) and never cached.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from accounts.http import client_ip
from accounts.oidc.flow import refusal_count, refusals_exceeded, refusals_so_far
from tokens.issuer import exchange
from tokens.issuer.exchange import CLIENT_CREDENTIALS, TOKEN_EXCHANGE, Attempt
from tokens.issuer.keys import NoSigningKey, jwks_document
from tokens.issuer.services import (
    Way,
    rate_limit,
    storage_token_issue,
    storage_token_refusal_record,
)
from tokens.models import IssuerKey
from tokens.policy import Refused, client_limits, decide, decide_for_client

DISCOVERY_MAX_AGE = 3600
JWKS_MAX_AGE = 300  # a new `next` key is seen within minutes; storage may cache longer


def issuer_metadata() -> dict:
    """One document for both well-known URLs; `issuer` is exactly the `iss` of every token."""
    base = settings.SITE_URL
    return {
        "issuer": base,
        "jwks_uri": base + reverse("issuer:jwks"),
        "token_endpoint": base + reverse("issuer:token"),
        "grant_types_supported": [TOKEN_EXCHANGE, CLIENT_CREDENTIALS],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["storage.read", "storage.create", "storage.modify", "storage.stage"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "wlcg.ver",
            "scope",
            "client_id",
            "act",
        ],
        "id_token_signing_alg_values_supported": [IssuerKey.Alg.ES256, IssuerKey.Alg.RS256],
        "token_endpoint_auth_signing_alg_values_supported": [],
    }


@require_GET
@cache_control(public=True, max_age=DISCOVERY_MAX_AGE)
def openid_configuration(request: HttpRequest) -> JsonResponse:
    """Public: storage finds the issuer's keys only through this document."""
    return JsonResponse(issuer_metadata())


@require_GET
@cache_control(public=True, max_age=DISCOVERY_MAX_AGE)
def oauth_authorization_server(request: HttpRequest) -> JsonResponse:
    """Public: RFC 8414 metadata, the same document."""
    return JsonResponse(issuer_metadata())


@require_GET
@cache_control(public=True, max_age=JWKS_MAX_AGE)
def jwks(request: HttpRequest) -> JsonResponse:
    """Public: active, next and still-needed retired keys."""
    return JsonResponse(jwks_document(), content_type="application/jwk-set+json")


def _json(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


ERROR_STATUS = {"invalid_client": 401, "slow_down": 429, "server_error": 503}


# Refused requests per address (wrong secrets, foreign subject tokens), each audited: past the
# login rate times ten in 10 minutes the endpoint answers slow_down without looking at the
# request, so guessing secrets is slow and a flood cannot fill the audit log.
REFUSALS = "storage-token-refusals"
TOO_MANY_REFUSALS = Refused(
    "rate-limit-address",
    "Too many refused token requests came from your address; wait ten minutes and check the "
    "client credentials and the subject token.",
    error="slow_down",
)


def _error(refusal: Refused) -> JsonResponse:
    response = _json(
        {"error": refusal.error, "error_description": refusal.message},
        ERROR_STATUS.get(refusal.error, 400),
    )
    if refusal.error == "invalid_client":
        response["WWW-Authenticate"] = 'Basic realm="gatehouse"'
    if refusal.error == "slow_down":
        response["Retry-After"] = "60"
    return response


@csrf_exempt
@sensitive_post_parameters("subject_token", "client_secret", "actor_token")
def token(request: HttpRequest) -> JsonResponse:
    """RFC 8693 token exchange and client_credentials; anyone may call it (it authenticates)."""
    attempt = Attempt(ip=client_ip(request))
    if request.method != "POST":
        response = _error(Refused("method", "POST the request as a form.", error="invalid_request"))
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    if refusals_exceeded(refusals_so_far(request, REFUSALS) + 1):  # this one would be past
        return _error(TOO_MANY_REFUSALS)
    try:
        body = _issue(request, attempt)
    except Refused as refusal:
        refusal_count(request, REFUSALS)
        storage_token_refusal_record(
            refusal=refusal,
            way=Way.CLIENT_CREDENTIALS
            if request.POST.get("grant_type") == CLIENT_CREDENTIALS
            else Way.EXCHANGE,
            account=attempt.account,
            actor=attempt.client.service_account if attempt.client else attempt.account,
            client=attempt.client,
            client_id=attempt.client_id,
            storage_element=attempt.storage_element,
            scopes=attempt.scopes,
            ip=attempt.ip,
        )
        return _error(refusal)
    except NoSigningKey as missing:
        return _error(Refused("no-key", str(missing), error="server_error"))
    return _json(body)


def _issue(request: HttpRequest, attempt: Attempt) -> dict:
    client = exchange.client_authenticate(request, attempt)
    grant_type = request.POST.get("grant_type", "")
    exchange.grant_type_allowed(client, grant_type)
    act = None
    if grant_type == TOKEN_EXCHANGE:
        account, subject_claims = exchange.subject_account(request, attempt)
        act = exchange.actor_claim(client, subject_claims)
    else:
        account = client.service_account
        attempt.account = account
    element = exchange.storage_element_for(request, attempt)
    scopes = exchange.requested_scopes(request, attempt)
    lifetime = exchange.requested_lifetime(request)
    if grant_type == TOKEN_EXCHANGE:
        if client is not None:
            client_limits(client=client, storage_element=element, scopes=scopes)
        grant = decide(account=account, storage_element=element, scopes=scopes, lifetime=lifetime)
        way = Way.EXCHANGE
    else:
        grant = decide_for_client(
            client=client, storage_element=element, scopes=scopes, lifetime=lifetime
        )
        way = Way.CLIENT_CREDENTIALS
    rate_limit(account=account, client=client)
    minted = storage_token_issue(
        account=account,
        storage_element=element,
        grant=grant,
        way=way,
        actor=client.service_account if client else account,
        client=client,
        act=act,
        ip=attempt.ip,
    )
    return {
        "access_token": minted.token,
        "issued_token_type": exchange.ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": int(grant.lifetime.total_seconds()),
        "scope": grant.scope,
    }
