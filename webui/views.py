import logging
import sys

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.models import Registration, ScheduledJob
from campaigns.selectors import memberships_for_account, requests_waiting_for
from tokens.selectors import tokens_for_account
from webui.middleware import DATABASE_UNAVAILABLE, database_unavailable_response

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
        log.warning("health: database check failed: %s", type(exc).__name__)
        connection.close_if_unusable_or_obsolete()
        return f"error: {type(exc).__name__}"


def _check_redis(url: str) -> str | None:
    if not url.startswith(("redis://", "rediss://")):
        return None  # the embedded filesystem broker and local-memory cache have nothing to ping
    try:
        redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25).ping()
        return "ok"
    except redis.RedisError as exc:
        return f"error: {type(exc).__name__}"


def _checks() -> dict[str, str]:
    checks = {"database": _check_database()}
    for name, url in (("broker", settings.CELERY_BROKER_URL), ("cache", settings.CACHE_URL)):
        if (result := _check_redis(url)) is not None:
            checks[name] = result
    return checks


@never_cache
@require_GET
def healthz(request):
    """Readiness of this web node: 503 only when the database is away.

    The broker and the cache are reported but do not fail it: pages work without them, and a
    load balancer would otherwise take every web node out at once.
    """
    checks = _checks()
    ready = checks["database"] == "ok"
    body = {
        "status": "ok" if ready else "unavailable",
        "failing": [name for name, result in checks.items() if result != "ok"],
        "checks": checks,
        "version": settings.VERSION,
    }
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
@require_GET
@vary_on_headers("Accept")
def status(request):
    """What each service is doing, for people (HTML) and monitors (JSON, by Accept)."""
    checks = _checks()
    jobs = list(ScheduledJob.objects.order_by("name")) if checks["database"] == "ok" else []
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "checks": checks,
                "jobs": {
                    job.name: {
                        "last_started": job.last_started.isoformat() if job.last_started else None,
                        "runs": job.runs,
                        "skipped": job.skipped,
                    }
                    for job in jobs
                },
                "version": settings.VERSION,
            }
        )
    return render(
        request,
        "status.html",
        {"checks": checks, "jobs": jobs, "degraded": any(v != "ok" for v in checks.values())},
    )


def server_error(request):
    """Django's 500 page, or a 503 with Retry-After when the database is what failed."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable_response(request)
    return defaults.server_error(request)
