"""mozilla-django-oidc's SessionRefresh, per provider and aware of htmx.

Every GATEHOUSE_SESSION_RENEW_SECONDS a logged-in session is sent back to its provider with
prompt=none, so an account disabled at the provider stops working here too. A cross-origin 302
cannot be followed by an htmx request, so htmx gets HX-Redirect and the browser navigates.
"""

import logging
import re
import time

from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import cached_property
from django.utils.module_loading import import_string
from django_htmx.http import HttpResponseClientRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as MozillaSessionRefresh

from accounts.idps import ProviderUnavailable, get_provider
from accounts.oidc.flow import authorization_url, safe_next

log = logging.getLogger(__name__)

EXEMPT_URL_NAMES = ["oidc_callback", "logout", "login", "register", "registration_waiting"]
EXEMPT_PATTERNS = [re.compile(r"^/login/"), re.compile(r"^/static/"), re.compile(r"^/healthz")]


class SessionRefresh(MozillaSessionRefresh):
    def __init__(self, get_response):
        # The parent reads one provider's endpoints from OIDC_* settings; ours is per session.
        MiddlewareMixin.__init__(self, get_response)

    @cached_property
    def exempt_urls(self):
        return {reverse(name) for name in EXEMPT_URL_NAMES}

    @cached_property
    def exempt_url_patterns(self):
        return set(EXEMPT_PATTERNS)

    def is_refreshable_url(self, request):
        backend = request.session.get(BACKEND_SESSION_KEY)
        return (
            request.method == "GET"
            and request.user.is_authenticated
            and bool(backend)
            and issubclass(import_string(backend), OIDCAuthenticationBackend)
            and "oidc_provider" in request.session  # not a test's force_login, say
            and request.path not in self.exempt_urls
            and not any(pattern.match(request.path) for pattern in self.exempt_url_patterns)
        )

    def process_request(self, request):
        if not self.is_refreshable_url(request):
            return None
        if request.session.get("oidc_id_token_expiration", 0) > time.time():
            return None
        provider = get_provider(request.session["oidc_provider"])
        if provider is None:
            return None
        # An htmx request's own URL is a fragment; come back to the page it was made from.
        next_url = (
            safe_next(request, request.htmx.current_url) if request.htmx else None
        ) or request.get_full_path()
        try:
            url = authorization_url(request, provider, next_url=next_url, silent=True)
        except ProviderUnavailable:
            log.info("session refresh skipped: %s is unavailable", provider.nickname)
            return None  # keep the session rather than lock everyone out while it is down
        if request.htmx:
            return HttpResponseClientRedirect(url)
        if request.headers.get("x-requested-with") == "XMLHttpRequest":
            response = JsonResponse({"refresh_url": url}, status=403)
            response["refresh_url"] = url
            return response
        return HttpResponseRedirect(url)
