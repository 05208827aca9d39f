import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import Registration
from campaigns.selectors import memberships_for_account, requests_waiting_for
from tokens.selectors import tokens_for_account

log = logging.getLogger(__name__)


def home(request):
    context = {"now": timezone.now()}
    if request.user.is_authenticated:
        context["first_login"] = request.session.pop("first_login", False)
        context["memberships"] = memberships_for_account(account=request.user)[:10]
        context["waiting"] = requests_waiting_for(account=request.user)
        context["tokens"] = tokens_for_account(account=request.user)[:5]
    elif request.session.get("registration_id"):
        # Someone whose registration this browser sent comes back: say where it stands.
        context["registration"] = Registration.objects.filter(
            pk=request.session["registration_id"]
        ).first()
    return render(request, "home.html", context)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except DatabaseError as exc:
        log.warning("healthz: database check failed: %s", type(exc).__name__)
        connection.close_if_unusable_or_obsolete()
        return f"error: {type(exc).__name__}"


def _check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None  # the embedded filesystem broker has nothing to ping
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
        return "ok"
    except redis.RedisError as exc:
        log.warning("healthz: broker check failed: %s", type(exc).__name__)
        return f"error: {type(exc).__name__}"


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check_database()}
    broker = _check_broker()
    if broker is not None:
        checks["broker"] = broker
    failing = [name for name, result in checks.items() if result != "ok"]
    body = {
        "status": "unavailable" if failing else "ok",
        "failing": failing,
        "checks": checks,
        "version": settings.VERSION,
    }
    return JsonResponse(body, status=503 if failing else 200)
