from functools import cache

from django.conf import settings
from django.templatetags.static import static
from django.urls import NoReverseMatch, get_script_prefix, reverse

from accounts.selectors import registrations_pending_count

NAV = {  # context name: URL name; the pages in base.html's header and footer
    "nav_home": "home",
    "nav_campaigns": "campaigns:list",
    "nav_my_campaigns": "campaigns:mine",
    "nav_tokens": "tokens:mine",
    "nav_inspect": "tokens:inspect",
    "nav_account": "account",
    "nav_login": "login",
    "nav_logout": "logout",
    "nav_registrations": "registrations",
    "nav_sync": "scim_sync_runs",
    "nav_admin": "admin:index",
    "nav_status": "status",
}


@cache
def _nav_urls(prefix: str, urlconf: str) -> dict[str, str]:
    """The header's and footer's URLs, reversed once per process (and script prefix and URLconf)
    instead of a dozen {% url %} on every page (issue 16, "Page cost"); "" for a name that is
    not routed."""
    urls = {}
    for key, name in NAV.items():
        try:
            urls[key] = reverse(name)
        except NoReverseMatch:
            urls[key] = ""
    return urls


@cache
def _static_urls(static_url: str, storage: str) -> dict[str, str]:
    """base.html's stylesheet and icon, as {% static %} gives them, once per process (and
    STATIC_URL and storage): three {% static %} on every page were a tenth of base.html."""
    return {"static_site_css": static("css/site.css"), "static_icon": static("img/gatehouse.svg")}


def _root() -> str:
    return settings.ROOT_URLCONF  # read per request: tests override it


def site(request):
    """Site name and version, the navigation's URLs; for admins, the count of registrations
    waiting (read only when the nav shows it: a callable is evaluated by the template, not here)."""
    return {
        "site_name": settings.SITE_NAME,
        "version": settings.VERSION,
        "registrations_waiting": registrations_pending_count,
        **_nav_urls(get_script_prefix(), getattr(request, "urlconf", None) or _root()),
        **_static_urls(settings.STATIC_URL, settings.STORAGES["staticfiles"]["BACKEND"]),
    }
