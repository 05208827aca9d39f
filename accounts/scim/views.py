"""The admins' page for SCIM sync: the history of runs, and a button to run one now."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import client_ip
from accounts.jobs import enqueue
from accounts.models import SyncRun
from accounts.scim.sync import scim_providers
from accounts.selectors import sync_runs_recent
from accounts.services import audit_record
from accounts.tasks import scim_sync_provider


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only data-centre admins can see and start SCIM syncs.")


@login_required
@require_GET
@vary_on_headers("HX-Request")
def sync_runs(request):
    _require_admin(request)
    runs = list(sync_runs_recent())
    context = {
        "runs": runs,
        "providers": scim_providers(),
        "running": any(r.outcome == SyncRun.Outcome.RUNNING for r in runs),
        "interval": settings.GATEHOUSE_SCIM_INTERVAL_MINUTES,
    }
    if request.htmx:
        return render(request, "accounts/sync_runs.html#history", context)
    return render(request, "accounts/sync_runs.html", context)


@login_required
@require_POST
def sync_run_now(request):
    _require_admin(request)
    nickname = request.POST.get("idp", "")
    if nickname not in scim_providers():
        messages.error(
            request, "That provider is not set up for SCIM sync; pick one from the list."
        )
        return redirect("scim_sync_runs")
    force = request.POST.get("force") == "1"
    queued = enqueue(
        scim_sync_provider,
        nickname,
        force,
        f"admin:{request.user.name}",
        queue=settings.GATEHOUSE_SCIM_QUEUE,
    )
    if not queued:
        messages.error(
            request,
            "The task queue (Redis) cannot be reached, so the sync was not started. Try again "
            "when it is back, or run `python manage.py scim_sync` on a server.",
        )
        return redirect("scim_sync_runs")
    audit_record(
        action="scim.sync.request",
        actor=request.user,
        target=f"idp:{nickname}",
        comment="forced" if force else "",
        ip=client_ip(request),
    )
    messages.success(
        request,
        f"The sync of {nickname} is queued. It appears below when a worker starts it; "
        "this page refreshes itself.",
    )
    return redirect("scim_sync_runs")
