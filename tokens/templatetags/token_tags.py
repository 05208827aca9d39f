"""What the tokens app adds to other apps' pages (campaigns sit below tokens and cannot ask)."""

from django import template

from tokens.issuer.pages import panel_context
from tokens.selectors import campaign_token_scopes

register = template.Library()


@register.inclusion_tag("tokens/campaign_scopes.html")
def campaign_scopes(campaign) -> dict:
    """Which token scopes read `campaign`'s data paths, per trusted issuer."""
    return {"campaign": campaign, "hints": campaign_token_scopes(campaign=campaign)}


@register.inclusion_tag("tokens/storage_access.html", takes_context=True)
def storage_access(context, campaign) -> dict:
    """The Storage access panel: ask Gatehouse for a storage token for this campaign's data."""
    request = context["request"]
    return {
        **panel_context(request, campaign),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
