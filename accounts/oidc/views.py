"""Login start (/login/<idp>/), the one callback for every provider, and logout.

Function-based like the rest of the site; mozilla-django-oidc's class-based views read one
provider from global settings, so their work is done here with its helpers and our backend.
"""

import logging
import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST
from mozilla_django_oidc.utils import absolutify

from accounts.http import client_ip
from accounts.idps import IdentityProvider, ProviderUnavailable, discovery, get_provider
from accounts.models import Registration
from accounts.oidc import LoginRefused, RegistrationRequired, VerifiedLogin
from accounts.oidc.flow import (
    STRAY_CALLBACK_WINDOW,
    authorization_url,
    login_rate_exceeded,
    refusal_worth_auditing,
    refusals_exceeded,
    safe_next,
    stray_callback_count,
    take_state,
)
from accounts.selectors import registration_latest
from accounts.services import audit_record
from accounts.signals import logout_started

log = logging.getLogger(__name__)

PENDING_LOGIN = "oidc_pending_registration"
STATE_PROBLEMS = {
    "state_unknown": "This login answer does not belong to a login started in this browser, or it "
    "was already used. Start the login again.",
    "state_expired": "This login took too long to finish (more than {minutes} minutes). Start the "
    "login again.",
}


def login_start_url(provider: IdentityProvider, next_url: str | None = None) -> str:
    url = reverse("oidc_login_start", args=[provider.nickname])
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def login_error(
    request: HttpRequest,
    message: str,
    *,
    status: int,
    provider: IdentityProvider | None = None,
    next_url: str | None = None,
    title: str = "Login failed",
) -> HttpResponse:
    """The page a refused login ends on: what went wrong, and a way to try again."""
    retry_url = login_start_url(provider, next_url) if provider else reverse("login")
    context = {"title": title, "message": message, "provider": provider, "retry_url": retry_url}
    return render(request, "accounts/login_error.html", context, status=status)


def _refuse(
    request: HttpRequest,
    refusal: LoginRefused,
    provider: IdentityProvider | None = None,
    next_url: str | None = None,
) -> HttpResponse:
    nickname = provider.nickname if provider else ""
    log.warning(
        "login refused: provider=%s reason=%s %s", nickname or "-", refusal.reason, refusal.detail
    )
    audit_record(
        action="login.refused",
        account=refusal.account,
        target=f"idp:{nickname}" if nickname else "",
        comment=refusal.message,
        detail={"reason": refusal.reason, "idp": nickname},
        ip=client_ip(request),
    )
    if request.user.is_authenticated:  # a failed login never leaves a session behind
        auth.logout(request)
    return login_error(
        request, refusal.message, status=refusal.status, provider=provider, next_url=next_url
    )


def _refuse_stray(request: HttpRequest, refusal: LoginRefused) -> HttpResponse:
    """A callback that matches no login started in this browser: anyone can send a browser
    there (a link, an image), so it leaves the session alone, and its audit rows are
    aggregated per address (the 1st, 10th, 100th... in 10 minutes), past a rate refused."""
    count = stray_callback_count(request)
    if refusal_worth_auditing(count):
        log.warning("login refused: reason=%s (%d from this address)", refusal.reason, count)
        audit_record(
            action="login.refused",
            comment=refusal.message,
            detail={
                "reason": refusal.reason,
                "count": count,
                "window_minutes": STRAY_CALLBACK_WINDOW // 60,
            },
            ip=client_ip(request),
        )
    if refusals_exceeded(count):
        return login_error(
            request,
            "Too many login answers that match no login came from your address. Wait a few "
            "minutes, then start the login again.",
            status=429,
            title="Slow down",
        )
    return login_error(request, refusal.message, status=refusal.status)


@never_cache
@require_GET
def login_start(request: HttpRequest, idp: str) -> HttpResponse:
    provider = get_provider(idp)
    if provider is None:
        raise Http404("There is no identity provider with this name.")
    next_url = safe_next(request, request.GET.get("next"))
    if login_rate_exceeded(request):
        log.warning("login rate limit reached for %s", client_ip(request))
        return login_error(
            request,
            "Too many logins were started from your address in the last minute. Wait a minute, "
            "then try again.",
            status=429,
            provider=provider,
            next_url=next_url,
            title="Slow down",
        )
    try:
        return HttpResponseRedirect(authorization_url(request, provider, next_url=next_url))
    except ProviderUnavailable as exc:
        log.warning("login start: %s unavailable: %s", provider.nickname, exc)
        return login_error(
            request,
            f"{provider.label} is unavailable right now. Try again in a few minutes, or choose "
            "another provider.",
            status=503,
            provider=provider,
            next_url=next_url,
            title="Provider unavailable",
        )


@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Where every provider sends the browser back; the state says which provider it was."""
    entry, problem = take_state(request, request.GET.get("state", ""))
    if entry is None:
        message = STATE_PROBLEMS[problem].format(minutes=settings.GATEHOUSE_LOGIN_STATE_TTL // 60)
        return _refuse_stray(request, LoginRefused(problem, message, status=400))
    provider = get_provider(entry.get("provider", ""))
    next_url = entry.get("next")
    if provider is None:
        message = "The provider this login started with is no longer configured. Choose another."
        return _refuse(request, LoginRefused("provider_unknown", message, status=400))
    error = request.GET.get("error")
    if error and entry.get("silent"):
        # The session refresh found the provider's session over: log in again, visibly.
        auth.logout(request)
        messages.info(request, f"Your session at {provider.label} has ended. Log in again.")
        return redirect(login_start_url(provider, next_url))
    if error:
        description = request.GET.get("error_description", "")[:200]
        said = f"{error}: {description}" if description else error
        message = (
            f"{provider.label} did not log you in ({said}). Start the login again, or choose "
            "another provider."
        )
        return _refuse(request, LoginRefused("provider_error", message), provider, next_url)
    issuer = request.GET.get("iss")
    if issuer is not None and issuer != provider.issuer:  # RFC 9207: a mixed-up provider
        message = f"The login answer came from {issuer}, not from {provider.label}. Start again."
        return _refuse(request, LoginRefused("bad_issuer", message, status=400), provider, next_url)
    try:
        account = auth.authenticate(
            request,
            provider=provider,
            code=request.GET.get("code"),
            nonce=entry.get("nonce"),
            code_verifier=entry.get("code_verifier"),
            redirect_uri=entry.get("redirect_uri"),
        )
    except LoginRefused as refusal:
        return _refuse(request, refusal, provider, next_url)
    except RegistrationRequired as needed:
        return _registration_start(request, needed.login, next_url)
    if account is None:
        message = f"{provider.label}'s answer held no login code. Start the login again."
        return _refuse(request, LoginRefused("no_code", message, status=400), provider, next_url)
    return _login_complete(request, account, entry, next_url)


def _login_complete(request, account, entry, next_url) -> HttpResponse:
    completed = request.completed_login
    renewal = request.user.is_authenticated and request.user.pk == account.pk
    if not renewal:  # a silent refresh keeps the session (and its CSRF token)
        first_login = account.last_login is None  # auth.login sets it
        auth.login(request, account)
        request.session["first_login"] = first_login
    request.session["oidc_provider"] = completed.provider.nickname
    request.session["oidc_token_id"] = completed.token_id
    request.session["oidc_id_token_expiration"] = (
        time.time() + settings.GATEHOUSE_SESSION_RENEW_SECONDS
    )
    audit_record(
        action="login.renew" if renewal else "login.success",
        actor=account,
        account=account,
        target=f"idp:{completed.provider.nickname}",
        detail={"idp": completed.provider.nickname, "identity": completed.identity.identity},
        ip=client_ip(request),
    )
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def _registration_start(request, login: VerifiedLogin, next_url) -> HttpResponse:
    """An unknown identity whose provider asks for registration: keep it for the form."""
    latest = registration_latest(identity=login.identity)
    waiting = latest is not None and latest.state == Registration.State.PENDING
    audit_record(
        action="login.refused",
        target=f"idp:{login.provider.nickname}",
        detail={
            "reason": "registration_pending" if waiting else "registration_needed",
            "idp": login.provider.nickname,
            "identity": login.identity,
        },
        ip=client_ip(request),
    )
    if request.user.is_authenticated:
        auth.logout(request)
    # What the provider vouched for goes into a session key nobody could have planted.
    request.session.cycle_key()
    request.session[PENDING_LOGIN] = {
        "provider": login.provider.nickname,
        "issuer": login.issuer,
        "sub": login.sub,
        "claims": {k: login.claims.get(k) for k in ("preferred_username", "email", "name")},
        "at": time.time(),
    }
    if waiting:
        request.session["registration_id"] = latest.pk
        return redirect("registration_waiting")
    return redirect("register")


def _end_session_url(request: HttpRequest, id_token: str) -> str | None:
    """The provider's RP-initiated logout URL for this session, when it has one."""
    provider = get_provider(request.session.get("oidc_provider", ""))
    if provider is None:
        return None
    try:
        endpoint = discovery(provider).get("end_session_endpoint")
    except ProviderUnavailable:
        return None
    if not endpoint:
        return None
    params = {
        "client_id": provider.client_id,
        "post_logout_redirect_uri": absolutify(request, resolve_url(settings.LOGOUT_REDIRECT_URL)),
    }
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"


@require_POST
@sensitive_variables()  # the ID token goes to the provider as id_token_hint
def logout(request: HttpRequest) -> HttpResponse:
    """Log out here, then at the provider (RP-initiated logout) when it offers that."""
    end_session = None
    if request.user.is_authenticated:
        # Every logout tells the apps above (tokens stops this login's refresh); a receiver
        # may answer with the ID token for the provider's id_token_hint.
        hints = logout_started.send(
            sender=None, account=request.user, token_id=request.session.get("oidc_token_id")
        )
        id_token = next((answer for _receiver, answer in hints if answer), "")
        end_session = _end_session_url(request, id_token)
        audit_record(
            action="logout", actor=request.user, account=request.user, ip=client_ip(request)
        )
        auth.logout(request)
    return HttpResponseRedirect(end_session or resolve_url(settings.LOGOUT_REDIRECT_URL))


def pending_login(request: HttpRequest) -> VerifiedLogin | None:
    """The verified but unknown identity waiting to register in this session, if still fresh."""
    pending = request.session.get(PENDING_LOGIN)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > 30 * 60:
        return None
    provider = get_provider(pending.get("provider", ""))
    if provider is None:
        return None
    return VerifiedLogin(provider, pending["issuer"], pending["sub"], pending.get("claims", {}))
