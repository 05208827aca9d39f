"""Token screens: my tokens, every token (admins), one token's inspection, and the inspector.

A pasted token is inspected in memory: never stored, logged or written back into the page.
"""

import json
from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.http import client_ip
from accounts.idps import get_providers
from tokens.forms import InspectForm, TargetForm, TokenFilterForm
from tokens.inspect import TokenReport, inspect
from tokens.inspection import explain_claim, explain_header
from tokens.models import Token
from tokens.portal import path_answer, portal_view
from tokens.selectors import token_for_viewer, token_state, tokens_for_account, tokens_for_admin
from tokens.services import token_delete as token_delete_service

TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time"})


def _require_admin(request) -> None:
    if not request.user.is_admin:
        raise PermissionDenied("Only data-centre admins may see every account's tokens.")


def _get_token_for_viewer(request, pk: int) -> Token:
    token = token_for_viewer(viewer=request.user, pk=pk)
    if token is None:
        raise Http404("No such token.")
    return token


def _shown(name: str, value) -> str:
    if name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        except (OverflowError, OSError, ValueError):
            return str(value)
        return f"{value} ({when})"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _report_context(
    report: TokenReport, *, operation: str = "", path: str = "", admin: bool = False
) -> dict:
    inspection = report.inspection
    capabilities = report.capabilities
    return {
        "report": report,
        "inspection": inspection,
        "header_rows": [
            (name, _shown(name, value), explain_header(name))
            for name, value in (inspection.header or {}).items()
        ],
        "claim_rows": [
            (name, _shown(name, value), explain_claim(name))
            for name, value in (inspection.claims or {}).items()
        ],
        "table": capabilities.table() if capabilities else [],
        "decision": path_answer(report, operation=operation, path=path),
        "asked": {"operation": operation, "path": path},
        "portal": portal_view(report),
        "show_account": admin,  # only admins learn which account stands behind `sub`
    }


def _token_rows(tokens, now):
    labels = {p.nickname: p.label for p in get_providers().values()}
    return [
        {
            "token": token,
            "state": token_state(token=token, now=now),
            "issuer": labels.get(token.idp, token.idp or "unknown provider"),
            "scopes": token.scope.split(),
        }
        for token in tokens
    ]


@login_required
@require_GET
def tokens_mine(request):
    now = timezone.now()
    tokens = tokens_for_account(account=request.user)
    return render(request, "tokens/mine.html", {"rows": _token_rows(tokens, now), "now": now})


@login_required
@require_GET
def tokens_all(request):
    _require_admin(request)
    now = timezone.now()
    form = TokenFilterForm(request.GET or None, providers=get_providers().values())
    filters = form.cleaned_data if form.is_valid() else {}
    tokens = tokens_for_admin(
        now=now,
        account_name=filters.get("account", ""),
        idp=filters.get("idp", ""),
        state=filters.get("state", ""),
    )
    page = Paginator(tokens, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tokens/all.html",
        {"form": form, "page": page, "rows": _token_rows(page, now), "query": query.urlencode()},
    )


@login_required
@require_GET
@never_cache
def token_detail(request, pk: int):
    token = _get_token_for_viewer(request, pk)
    form = TargetForm(request.GET or None)
    target = operation = path = ""
    if form.is_valid():
        target = form.chosen_target or ""
        operation, path = form.cleaned_data["operation"], form.cleaned_data["path"]
    report = inspect(token.token, target=target or None)
    context = _report_context(report, operation=operation, path=path, admin=request.user.is_admin)
    context.update(
        token=token,
        state=token_state(token=token, now=timezone.now()),
        form=form,
        owner_view=token.account_id == request.user.pk,
    )
    return render(request, "tokens/detail.html", context)


@login_required
@require_POST
def token_delete(request, pk: int):
    token = _get_token_for_viewer(request, pk)
    owner = token.account_id == request.user.pk
    token_delete_service(token=token, actor=request.user, ip=client_ip(request))
    if owner:
        messages.success(request, "The token was deleted; the portal no longer holds it.")
        return redirect("tokens:mine")
    messages.success(request, f"The token of {token.account.name} was revoked and deleted.")
    return redirect("tokens:all")


@sensitive_post_parameters("token")
@never_cache
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def inspect_page(request):
    form = InspectForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        report = inspect(form.cleaned_data["token"], target=form.chosen_target)
        context.update(
            _report_context(
                report,
                operation=form.cleaned_data["operation"],
                path=form.cleaned_data["path"],
                admin=request.user.is_authenticated and request.user.is_admin,
            )
        )
    template = "tokens/inspect.html"
    if request.htmx and request.method == "POST":
        template += "#result"
    return render(request, template, context)
