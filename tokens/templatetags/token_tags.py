"""What the tokens app adds to other apps' pages (campaigns sit below tokens and cannot ask)."""

from django import template

from tokens.selectors import campaign_token_scopes

register = template.Library()


@register.inclusion_tag("tokens/campaign_scopes.html")
def campaign_scopes(campaign) -> dict:
    """Which token scopes read `campaign`'s data paths, per trusted issuer."""
    return {"campaign": campaign, "hints": campaign_token_scopes(campaign=campaign)}
