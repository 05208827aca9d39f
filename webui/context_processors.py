from django.conf import settings

from accounts.selectors import registrations_pending_count


def site(request):
    """Site name and version; for admins, the count of registrations waiting (read only when the
    nav shows it: a callable is evaluated by the template, not here)."""
    return {
        "site_name": settings.SITE_NAME,
        "version": settings.VERSION,
        "registrations_waiting": registrations_pending_count,
    }
