"""Small presentation helpers for campaign pages."""

import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

NO_EMBARGO = mark_safe(
    '<span class="badge badge-public">public</span> <span class="muted">no embargo</span>'
)


@register.filter
def days_from_today(day: datetime.date | None, *, today: datetime.date | None = None) -> int | None:
    """Whole days from today to `day` (negative when past); None stays None. A table's rows
    pass `today`, read once for all of them."""
    if day is None:
        return None
    return (day - (today or timezone.localdate())).days


@register.simple_tag
def embargo_status(campaign, *, today: datetime.date | None = None) -> str:
    """Badge plus date and countdown, e.g. "embargo until 2026-06-30 (212 days left)".

    Markup written here rather than in an included template: the campaign list shows it on every
    row (see campaign_tables)."""
    until = campaign.embargo_until
    days = days_from_today(until, today=today)
    if days is not None and days > 0:
        left = "1 day left" if days == 1 else f"{days} days left"
        return format_html(
            '<span class="badge badge-embargo">embargo</span> <span class="embargo-date">until '
            '<time datetime="{}">{}</time></span> <span class="muted">({})</span>',
            until.isoformat(),
            until.isoformat(),
            left,
        )
    if until:
        return format_html(
            '<span class="badge badge-public">public</span> <span class="muted">since {}</span>',
            until.isoformat(),
        )
    return NO_EMBARGO
