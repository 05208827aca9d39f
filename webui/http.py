"""Small request helpers shared by the apps."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; X-Forwarded-For counts only from a GATEHOUSE_TRUSTED_PROXIES peer."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote in settings.GATEHOUSE_TRUSTED_PROXIES:
        # The proxy appends the address it saw, so the last entry is the one it vouches for.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        return forwarded or remote
    return remote
