"""People's pages of the issuer: the Storage access panel's POST, and "Tokens I was issued".

A minted token is shown once, in the response to the POST that made it (never cached, never
stored: the database keeps its jti and hash), so this POST renders instead of redirecting.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.http import client_ip
from campaigns.selectors import campaign_for_page
from tokens.forms import StorageTokenForm
from tokens.issuer.keys import NoSigningKey
from tokens.issuer.selectors import download_commands, issued_tokens_for, storage_offers
from tokens.issuer.services import (
    Way,
    rate_limit,
    storage_token_issue,
    storage_token_refusal_record,
)
from tokens.paths import path_join, path_relative, storage_path
from tokens.policy import Refused, ScopeRequest, decide


def panel_context(request, campaign, form=None) -> dict:
    """What the panel shows: used by the template tag (GET) and by the POST below."""
    if not request.user.is_authenticated:
        return {"campaign": campaign, "signed_in": False}
    offers = storage_offers(account=request.user, campaign=campaign)
    available = [offer for offer in offers if offer.operations]
    if form is None and available:  # the panel shows a form only when there is something to ask
        form = StorageTokenForm(offers=offers, campaign=campaign)
    return {
        "campaign": campaign,
        "signed_in": True,
        "offers": offers,
        "available": available,
        "form": form,
    }


@login_required
@require_POST
@never_cache
def storage_token_request(request, slug: str):
    """Anyone logged in may ask; tokens.policy decides, and a refusal names its rule."""
    campaign = campaign_for_page(slug)
    if campaign is None:
        raise Http404("No such campaign.")
    offers = storage_offers(account=request.user, campaign=campaign)
    form = StorageTokenForm(request.POST, offers=offers, campaign=campaign)
    context = {}
    if form.is_valid():
        context = _mint(request, form)
    context.update(panel_context(request, campaign, form))
    template = "tokens/storage_access.html"
    if request.htmx:
        template += "#panel"
    else:
        template = "tokens/storage_access_page.html"
    return render(request, template, context)


def _mint(request, form: StorageTokenForm) -> dict:
    data = form.cleaned_data
    offer = form.offers[data["storage_element"]]
    element = offer.storage_element
    ip = client_ip(request)
    scope_text = ""
    try:
        try:
            path = storage_path(
                data["data_path"] + ("/" + data["sub_path"] if data["sub_path"] else "")
            )
        except ValueError as exc:
            raise Refused("path-unsafe", str(exc), error="invalid_scope") from None
        relative = path_relative(element.base_path, path)
        if relative is None:
            raise Refused(
                "outside-base-path",
                f"{path} is outside {element.name}'s area ({element.base_path}).",
                error="invalid_target",
            )
        request_scope = ScopeRequest(data["operation"], relative)
        scope_text = request_scope.scope
        grant = decide(
            account=request.user,
            storage_element=element,
            scopes=[request_scope],
            lifetime=timedelta(minutes=data["lifetime"]),
        )
        rate_limit(account=request.user, client=None)
        minted = storage_token_issue(
            account=request.user,
            storage_element=element,
            grant=grant,
            way=Way.BROWSER,
            actor=request.user,
            ip=ip,
        )
    except Refused as refusal:
        storage_token_refusal_record(
            refusal=refusal,
            way=Way.BROWSER,
            account=request.user,
            actor=request.user,
            storage_element=element.name,
            scopes=scope_text,
            ip=ip,
        )
        form.add_error(None, f"{refusal.message} (rule: {refusal.rule})")
        return {}
    except NoSigningKey as missing:
        form.add_error(None, str(missing))
        return {}
    return {
        "minted": minted,
        "minted_path": path_join(element.base_path, relative),
        "commands": download_commands(element=element, path=path_join(element.base_path, relative)),
    }


@login_required
@require_GET
def storage_tokens_mine(request):
    """The storage tokens the signed-in person was issued (records; the tokens are not kept)."""
    now = timezone.now()
    records = issued_tokens_for(account=request.user)[:200]
    return render(request, "tokens/storage_mine.html", {"records": records, "now": now})
