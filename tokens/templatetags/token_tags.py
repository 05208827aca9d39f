"""What the tokens app adds to other apps' pages (campaigns sit below tokens and cannot ask)."""

import re

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from tokens.issuer.pages import panel_context
from tokens.selectors import campaign_token_scopes, token_refresh_end

register = template.Library()


@register.inclusion_tag("tokens/campaign_scopes.html")
def campaign_scopes(campaign) -> dict:
    """Which token scopes read `campaign`'s data paths, per trusted issuer."""
    return {"campaign": campaign, "hints": campaign_token_scopes(campaign=campaign)}


@register.filter
def backticks(text: str) -> str:
    """Explanations mark names as `name`: show those as code, escape everything else."""
    parts = re.split(r"`([^`]+)`", str(text or ""))
    return mark_safe(  # noqa: S308 (every part is escaped by conditional_escape / format_html)
        "".join(
            format_html("<code>{}</code>", part) if odd else conditional_escape(part)
            for odd, part in ((i % 2 == 1, p) for i, p in enumerate(parts))
        )
    )


@register.filter
def refresh_end(token):
    """When the portal stops refreshing `token` (None: not refreshable or no end known)."""
    return token_refresh_end(token=token)


@register.inclusion_tag("tokens/storage_access.html", takes_context=True)
def storage_access(context, campaign) -> dict:
    """The Storage access panel: ask Gatehouse for a storage token for this campaign's data."""
    request = context["request"]
    return {
        **panel_context(request, campaign),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
