"""One login's moving parts: state, nonce, PKCE, `next`, and the login rate limit.

A started login is kept server-side in the session under its random `state` (mozilla-django-oidc's
`oidc_states` dictionary, so its helper keeps the number bounded), together with the provider's
nickname. That is how one callback URL serves every provider. Each state is used once and
expires after GATEHOUSE_LOGIN_STATE_TTL seconds.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import get_random_string
from django.utils.http import url_has_allowed_host_and_scheme
from mozilla_django_oidc.utils import (
    absolutify,
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)

from accounts.http import client_ip
from accounts.idps import IdentityProvider, discovery

STATES = "oidc_states"


def login_scopes(document: dict) -> str:
    """The configured scopes, plus offline_access when the provider offers it (refresh tokens)."""
    scopes = settings.GATEHOUSE_LOGIN_SCOPES.split()
    if "offline_access" in document.get("scopes_supported", []) and "offline_access" not in scopes:
        scopes.append("offline_access")
    return " ".join(scopes)


def safe_next(request: HttpRequest, url: str | None) -> str | None:
    """`url` if it stays on this site, else None (no open redirect after login)."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


def authorization_url(
    request: HttpRequest,
    provider: IdentityProvider,
    *,
    next_url: str | None = None,
    silent: bool = False,
) -> str:
    """Remember a new login in the session and return the provider's authorization URL.

    Raises ProviderUnavailable when the provider's discovery document cannot be had.
    `silent` asks the provider not to show anything (prompt=none), for session refresh.
    """
    document = discovery(provider)
    _forget_expired(request)
    state = get_random_string(43)
    code_verifier = get_random_string(64)
    redirect_uri = absolutify(request, reverse("oidc_callback"))
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": redirect_uri,
        "scope": login_scopes(document),
        "state": state,
        "nonce": get_random_string(43),
        "code_challenge": generate_code_challenge(code_verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if silent:
        params["prompt"] = "none"
    add_state_and_verifier_and_nonce_to_session(request, state, params, code_verifier)
    request.session[STATES][state].update(
        provider=provider.nickname, next=next_url, redirect_uri=redirect_uri, silent=silent
    )
    request.session.modified = True  # the nested dictionary changed
    endpoint = document["authorization_endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


def take_state(request: HttpRequest, state: str) -> tuple[dict | None, str]:
    """Remove and return the started login for `state`, or (None, why not).

    The entry is gone after this call whatever happens next, so a callback URL works once.
    """
    states = request.session.get(STATES)
    entry = states.pop(state, None) if isinstance(states, dict) and state else None
    if entry is None:
        return None, "state_unknown"
    request.session.modified = True
    request.session.save()  # before talking to the provider, so a parallel replay finds nothing
    if time.time() - entry.get("added_on", 0) > settings.GATEHOUSE_LOGIN_STATE_TTL:
        return None, "state_expired"
    return entry, ""


def _forget_expired(request: HttpRequest) -> None:
    states = request.session.get(STATES)
    if not isinstance(states, dict):
        return
    oldest = time.time() - settings.GATEHOUSE_LOGIN_STATE_TTL
    for state in [s for s, entry in states.items() if entry.get("added_on", 0) < oldest]:
        del states[state]
        request.session.modified = True


def _window_key(key: str, window: int) -> str:
    return f"{key}:{int(time.time() // window)}"


def _count(key: str, window: int) -> int:
    """Count one event under `key` in the current `window` seconds (in the shared cache)."""
    key = _window_key(key, window)
    cache.add(key, 0, timeout=2 * window)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=2 * window)
        return 1


def rate_exceeded(bucket: str, limit: int) -> bool:
    """Count one event in `bucket` for this minute; True past `limit`."""
    return _count(bucket, 60) > limit


def _count_for_address(request: HttpRequest, kind: str, window: int) -> int:
    """Count one `kind` event for the client's address in the current `window` seconds."""
    return _count(f"{kind}:{client_ip(request)}", window)


def login_rate_exceeded(request: HttpRequest) -> bool:
    """Count one login start for the client's address; True past GATEHOUSE_LOGIN_RATE a minute."""
    return _count_for_address(request, "login-starts", 60) > settings.GATEHOUSE_LOGIN_RATE


STRAY_CALLBACK_WINDOW = 600  # refusals from one address are counted per 10 minutes


def stray_callback_count(request: HttpRequest) -> int:
    """Count one callback that matched no login of this browser, per address and 10 minutes."""
    return refusal_count(request, "stray-callbacks")


def refusal_count(request: HttpRequest, kind: str) -> int:
    """Count one refused `kind` request from the client's address in the 10-minute window."""
    return _count_for_address(request, kind, STRAY_CALLBACK_WINDOW)


def refusals_so_far(request: HttpRequest, kind: str) -> int:
    """How many `kind` refusals this address had in the window (counts nothing)."""
    return cache.get(_window_key(f"{kind}:{client_ip(request)}", STRAY_CALLBACK_WINDOW), 0)


def refusals_exceeded(count: int) -> bool:
    """Past the login rate (per minute) times the window's minutes: refuse without reading."""
    return count > settings.GATEHOUSE_LOGIN_RATE * (STRAY_CALLBACK_WINDOW // 60)


def refusal_worth_auditing(count: int) -> bool:
    """Audit the 1st, 10th, 100th... refusal from one address: a flood cannot fill the log."""
    return count == 1 or (count >= 10 and str(count).rstrip("0") == "1")
