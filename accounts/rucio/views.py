"""The admins' Rucio pages: the history of reconcile runs with "run now", and one account's
Rucio state with "sync now". Both work with the feature off and say so."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import client_ip
from accounts.jobs import enqueue
from accounts.models import Account, SyncRun
from accounts.rucio.selectors import rucio_runs_recent, rucio_state_of
from accounts.rucio.sync import rucio_enabled
from accounts.selectors import account_find
from accounts.services import audit_record
from accounts.tasks import rucio_sync_task

QUEUE_DOWN = (
    "The task queue (Redis) cannot be reached, so the sync was not started. Try again when it "
    "is back, or run `python manage.py rucio_sync` on a server."
)
OFF = (
    "Rucio provisioning is off on this portal: set GATEHOUSE_RUCIO_URL and Gatehouse's Rucio "
    "credentials (see the README's operator section) to turn it on."
)


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only data-centre admins can see and start Rucio syncs.")


def _account_for_admin(request, name: str) -> Account:
    _require_admin(request)
    account = account_find(name=name)
    if account is None:
        raise Http404("There is no account of that name.")
    return account


@login_required
@require_GET
@vary_on_headers("HX-Request")
def rucio_sync_runs(request):
    _require_admin(request)
    runs = list(rucio_runs_recent())
    context = {
        "runs": runs,
        "enabled": rucio_enabled(),
        "off": OFF,
        "rucio_url": settings.GATEHOUSE_RUCIO_URL,
        "running": any(r.outcome == SyncRun.Outcome.RUNNING for r in runs),
        "interval": settings.GATEHOUSE_RUCIO_INTERVAL_MINUTES,
    }
    if request.htmx:
        return render(request, "accounts/rucio_sync_runs.html#history", context)
    return render(request, "accounts/rucio_sync_runs.html", context)


@login_required
@require_POST
def rucio_sync_run_now(request):
    _require_admin(request)
    if not rucio_enabled():
        messages.error(request, OFF)
        return redirect("rucio_sync_runs")
    force = request.POST.get("force") == "1"
    queued = enqueue(
        rucio_sync_task,
        kwargs={"force": force, "triggered_by": f"admin:{request.user.name}"},
        queue=settings.GATEHOUSE_RUCIO_QUEUE,
    )
    if not queued:
        messages.error(request, QUEUE_DOWN)
        return redirect("rucio_sync_runs")
    audit_record(
        action="rucio.sync.request",
        actor=request.user,
        target="rucio",
        comment="forced" if force else "",
        ip=client_ip(request),
    )
    messages.success(
        request,
        "The Rucio sync is queued. It appears below when a worker starts it; "
        "this page refreshes itself.",
    )
    return redirect("rucio_sync_runs")


@login_required
@require_GET
def rucio_account(request, name: str):
    account = _account_for_admin(request, name)
    context = {"subject": account, "rucio": rucio_state_of(account=account), "off": OFF}
    return render(request, "accounts/rucio_account.html", context)


@login_required
@require_POST
def rucio_account_sync(request, name: str):
    account = _account_for_admin(request, name)
    if not rucio_enabled():
        messages.error(request, OFF)
        return redirect("rucio_account", name=account.name)
    queued = enqueue(
        rucio_sync_task,
        kwargs={"account": account.name, "triggered_by": f"admin:{request.user.name}"},
        queue=settings.GATEHOUSE_RUCIO_QUEUE,
    )
    if not queued:
        messages.error(request, QUEUE_DOWN)
        return redirect("rucio_account", name=account.name)
    audit_record(
        action="rucio.sync.request",
        actor=request.user,
        account=account,
        target=f"account:{account.name}",
        ip=client_ip(request),
    )
    messages.success(
        request,
        f"A sync of {account.name} into Rucio is queued; reload this page in a moment to see "
        "its result.",
    )
    return redirect("rucio_account", name=account.name)
