"""The token endpoint's decisions (RFC 6749 §5, RFC 8693): who the client is, whose token the
subject token is, which storage element and scopes are asked for, and the resulting grant.

Every failure is a `Refused` whose `error` is the RFC error code and whose message is the
`error_description`; the view turns it into JSON and an audit event.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest

from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.selectors import account_of_identity
from tokens.inspect import inspect
from tokens.inspection import Status
from tokens.issuer.selectors import storage_element_named
from tokens.issuer.services import client_secret_matches
from tokens.models import OAuthClient, StorageElement
from tokens.policy import Refused, ScopeRequest, parse_scopes

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
CLIENT_CREDENTIALS = "client_credentials"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)


@dataclass
class Attempt:
    """What is known about one request so far (for the audit event of a refusal)."""

    ip: str | None
    client: OAuthClient | None = None
    client_id: str = ""
    account: Account | None = None
    storage_element: str = ""
    scopes: str = ""
    act: dict | None = None


def _one(request: HttpRequest, name: str, *, required: bool = False) -> str:
    values = request.POST.getlist(name)
    if len(values) > 1:
        raise Refused(
            "parameter-repeated",
            f"Send {name} once, not {len(values)} times.",
            error="invalid_request",
        )
    if required and not (values and values[0]):
        raise Refused("parameter-missing", f"The request needs {name}.", error="invalid_request")
    return values[0] if values else ""


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise Refused(
            "client-auth-scheme",
            "Authenticate the client with HTTP Basic (client_secret_basic) or with client_id "
            "and client_secret in the form.",
            error="invalid_client",
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Refused(
            "client-auth-malformed",
            "The Basic credentials are not base64 of id:secret.",
            error="invalid_client",
        ) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise Refused(
            "client-auth-malformed",
            "The Basic credentials are not base64 of id:secret.",
            error="invalid_client",
        )
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def client_authenticate(request: HttpRequest, attempt: Attempt) -> OAuthClient | None:
    """The registered client the request authenticates as, or None for a public request."""
    basic = _basic_credentials(request)
    form_id, form_secret = _one(request, "client_id"), _one(request, "client_secret")
    if basic is not None and (form_secret or (form_id and form_id != basic[0])):
        raise Refused(
            "client-auth-twice",
            "Authenticate the client one way: HTTP Basic or the form, not both.",
            error="invalid_request",
        )
    client_id, secret = basic if basic is not None else (form_id, form_secret)
    attempt.client_id = client_id
    if not client_id and not secret:
        return None
    client = (
        OAuthClient.objects.select_related("service_account").filter(client_id=client_id).first()
    )
    if client is None or not secret or not client_secret_matches(client, secret):
        raise Refused(
            "client-auth-failed",
            "Client authentication failed: check the client id and secret (a reset secret "
            "replaces the old one at once).",
            error="invalid_client",
        )
    if not client.enabled:
        raise Refused("client-disabled", f"Client {client_id} is disabled.", error="invalid_client")
    attempt.client = client
    return client


def grant_type_allowed(client: OAuthClient | None, grant_type: str) -> None:
    if grant_type not in (TOKEN_EXCHANGE, CLIENT_CREDENTIALS):
        raise Refused(
            "grant-type",
            f"Gatehouse issues storage tokens by {TOKEN_EXCHANGE} or client_credentials, "
            f"not {grant_type or 'no grant_type'}.",
            error="unsupported_grant_type",
        )
    if client is None and grant_type == CLIENT_CREDENTIALS:
        raise Refused(
            "client-required",
            "client_credentials needs client authentication.",
            error="invalid_client",
        )
    if client is not None and grant_type not in client.grants:
        raise Refused(
            "client-grant",
            f"Client {client.client_id} is not registered for {grant_type}.",
            error="unauthorized_client",
        )


def storage_element_for(request: HttpRequest, attempt: Attempt) -> StorageElement:
    """RFC 8693 `audience` (a storage element's name or audience) or `resource` (its URL)."""
    wanted = request.POST.getlist("audience") + request.POST.getlist("resource")
    if len(wanted) != 1 or not wanted[0]:
        raise Refused(
            "one-storage-element",
            "Name exactly one storage element in `audience` (its name or audience URL): a "
            "storage token is for one storage element.",
            error="invalid_target",
        )
    attempt.storage_element = wanted[0][:100]
    element = storage_element_named(wanted[0]) or next(
        (e for e in StorageElement.objects.order_by("name") if wanted[0] in e.audiences), None
    )
    if element is None:
        raise Refused(
            "unknown-storage-element",
            f"Gatehouse knows no storage element {wanted[0]!r}; the data centre lists them.",
            error="invalid_target",
        )
    attempt.storage_element = element.name
    return element


def requested_scopes(request: HttpRequest, attempt: Attempt) -> list[ScopeRequest]:
    text = _one(request, "scope")
    attempt.scopes = text
    return parse_scopes(text)


def requested_lifetime(request: HttpRequest) -> timedelta | None:
    """`lifetime` in seconds (Gatehouse's own parameter): shorter than the element's default."""
    text = _one(request, "lifetime")
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise Refused(
            "lifetime", "Give lifetime as a number of seconds, e.g. 600.", error="invalid_request"
        )
    return timedelta(seconds=int(text))


def subject_account(request: HttpRequest, attempt: Attempt) -> tuple[Account, dict]:
    """Validate `subject_token` with the inspection core; return its account and claims."""
    if request.POST.getlist("actor_token"):
        raise Refused(
            "actor-token",
            "Gatehouse takes the actor from client authentication; do not send actor_token.",
            error="invalid_request",
        )
    raw = _one(request, "subject_token", required=True)
    token_type = _one(request, "subject_token_type", required=True)
    if token_type not in SUBJECT_TOKEN_TYPES:
        raise Refused(
            "subject-token-type",
            f"subject_token_type must be {ACCESS_TOKEN_TYPE}.",
            error="invalid_request",
        )
    wanted_type = _one(request, "requested_token_type")
    if wanted_type and wanted_type not in SUBJECT_TOKEN_TYPES:
        raise Refused(
            "requested-token-type",
            f"Gatehouse issues {ACCESS_TOKEN_TYPE} only.",
            error="invalid_request",
        )
    report = inspect(raw, target=settings.GATEHOUSE_ISSUER_AUDIENCE)
    inspection = report.inspection
    claims = inspection.claims or {}
    if inspection.issuer is None or inspection.issuer.issuer == settings.SITE_URL:
        raise Refused(
            "subject-untrusted-issuer",
            f"The subject token's issuer {str(claims.get('iss'))[:200]!r} is not an identity "
            "provider Gatehouse trusts: log in with one of the site's providers and use that "
            "access token.",
            error="invalid_request",
        )
    failed = [check for check in inspection.checks if check.status is Status.FAIL]
    audience = inspection.check("aud")
    if not failed and (audience is None or audience.status is not Status.PASS):
        failed = [audience] if audience else []
    if failed:
        first = failed[0]
        raise Refused(
            f"subject-{first.id}",
            f"The subject token is not usable here: {first.explanation}",
            error="invalid_request",
        )
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Refused(
            "subject-sub", "The subject token names no subject (`sub`).", error="invalid_request"
        )
    identity = oidc_identity(sub=claims["sub"], issuer=inspection.issuer.issuer)
    account = account_of_identity(type=Identity.Type.OIDC, identity=identity)
    if account is None:
        raise Refused(
            "subject-unknown",
            "The subject token's person has no Gatehouse account: log in to the portal once "
            "and register.",
            error="access_denied",
        )
    attempt.account = account
    return account, claims


def actor_claim(client: OAuthClient | None, subject_claims: dict) -> dict | None:
    """RFC 8693 §4.1: the acting client outermost, the subject token's own `act` nested inside;
    without a client, the subject token's `act` (signed by its issuer) is kept as it is."""
    subject_act = subject_claims.get("act") if isinstance(subject_claims.get("act"), dict) else None
    if client is None:
        return subject_act
    if not client.may_act_for_users:
        raise Refused(
            "client-may-not-act",
            f"Client {client.client_id} may not act for people; the data centre enables that.",
            error="unauthorized_client",
        )
    act: dict = {"sub": client.client_id}
    if subject_act is not None:
        act["act"] = subject_act
    return act
