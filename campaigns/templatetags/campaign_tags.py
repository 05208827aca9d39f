"""Small presentation helpers for campaign pages."""

import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def days_from_today(day: datetime.date | None) -> int | None:
    """Whole days from today to `day` (negative when past); None stays None."""
    if day is None:
        return None
    return (day - timezone.localdate()).days


@register.inclusion_tag("campaigns/_embargo.html")
def embargo_status(campaign) -> dict:
    """Badge plus date and countdown, e.g. "embargo until 2026-06-30 (in 212 days)"."""
    days = days_from_today(campaign.embargo_until)
    return {"campaign": campaign, "days": days, "under": days is not None and days > 0}
