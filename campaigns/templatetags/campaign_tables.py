"""The rows of the campaign pages' long tables and lists, written out in Python.

The campaign list, the member list and the manage page (its members and its waiting requests)
repeat one row up to 25 times. Django's
template engine spends 10-20 µs on each variable, filter and {% if %} it renders, and
format_html spends a few µs on each value it escapes (lazy-object checks), which made these
rows most of each page's CPU (issue 16, "Page cost"). Here each row is one f-string: every value
from the database goes through `_e` (html.escape, quotes included, as the template's
autoescape does) and numbers through int(); the markup is the template's, unchanged. The page
around the rows stays in its template. What a row may offer (which buttons) is decided by the
Viewer, not here. tests/integration/campaigns/test_tables.py puts markup in every field.
"""

import datetime
from html import escape as _e

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import normalize_newlines

from campaigns.models import Membership
from campaigns.selectors import Viewer
from campaigns.templatetags.campaign_tags import days_from_today, embargo_status

register = template.Library()

Role = Membership.Role


def _safe(rows: list[str]) -> SafeString:
    """Rows built below: every value in them went through _e() or int()."""
    return mark_safe("".join(rows))  # noqa: S308 (each value escaped where it is interpolated)


def _day(day: datetime.date | datetime.datetime | None, empty: str) -> str:
    """YYYY-MM-DD, a moment in the site's time zone as the |date filter shows it; `empty` for
    None."""
    if isinstance(day, datetime.datetime):
        day = timezone.localtime(day).date()
    return day.isoformat() if day else empty


def _days_left(days: int, *, today: str) -> str:
    if days < 0:
        return "ended"
    if days == 0:
        return today
    return "1 day left" if days == 1 else f"{days} days left"


def _role_badge(membership: Membership) -> str:
    if membership.role == Role.MEMBER:
        return "member"
    return f'<span class="badge badge-info">{_e(membership.get_role_display())}</span>'


# --- the campaign list -------------------------------------------------------------------------

ARCHIVED = ' <span class="badge">archived</span>'
YOU = {
    "pi": '<span class="badge badge-info">PI</span>',
    Membership.State.APPROVED: '<span class="badge badge-approved">member</span>',
    Membership.State.REQUESTED: '<span class="badge badge-requested">requested</span>',
    None: '<span class="muted" aria-label="not a member">—</span>',
}


@register.simple_tag(takes_context=True)
def campaign_rows(context, campaigns, campaigns_url: str) -> SafeString:
    """The list's rows: campaign, PI, embargo, current members, and the viewer's own standing
    (`viewer_state` from selectors.campaign_list)."""
    user = context.get("user")
    viewer_pk = user.pk if user is not None and user.is_authenticated else None
    today = timezone.localdate()
    rows = []
    for c in campaigns:
        if viewer_pk is not None and c.pi_id == viewer_pk:
            you = YOU["pi"]
        else:
            you = YOU.get(getattr(c, "viewer_state", None), YOU[None])
        slug = _e(c.slug)
        rows.append(
            f'<tr><td><a class="campaign-name" href="{_e(campaigns_url)}{slug}/">{slug}</a>'
            f"{ARCHIVED if c.status == c.Status.ARCHIVED else ''}"
            f'<div class="muted">{_e(c.title)}</div></td>'
            f'<td data-label="PI">{_e(c.pi.get_full_name())} '
            f'<div class="muted">{_e(c.pi.name)}</div></td>'
            f'<td data-label="Embargo">{embargo_status(c, today=today)}</td>'
            f'<td class="num" data-label="Members">{int(c.member_count)}</td>'
            f'<td data-label="You">{you}</td></tr>\n'
        )
    return _safe(rows)


# --- the member list on the campaign page -------------------------------------------------------


@register.simple_tag
def member_rows(memberships) -> SafeString:
    """The campaign page's member rows: who, role, since when, until when."""
    return _safe(
        [
            f"<tr><td>{_e(m.account.get_full_name())} "
            f'<span class="muted">({_e(m.account.name)})</span></td>'
            f'<td data-label="Role">{_role_badge(m)}</td>'
            f'<td class="date" data-label="Since">{_day(m.decided_at, "—")}</td>'
            f'<td data-label="Until">{_day(m.valid_until, "no end date")}</td></tr>\n'
            for m in memberships
        ]
    )


# --- the manage page ---------------------------------------------------------------------------


def _end_date(m: Membership, viewer: Viewer, action: str, csrf: str, today: datetime.date) -> str:
    if m.role == Role.PI:
        return '<span class="muted">no end date (PI)</span>'
    days = days_from_today(m.valid_until, today=today)
    left = (
        ""
        if days is None
        else f'<div class="muted">{_days_left(days, today="last day today")}</div>'
    )
    if not viewer.may_set_end_date(m):
        return f"{_day(m.valid_until, 'no end date')}{left}"
    pk = int(m.pk)
    clear = (
        '<button class="button-quiet button-small" type="submit" name="clear" value="1">'
        "Clear</button>"
        if m.valid_until
        else ""
    )
    return (
        f'<form class="valid-until" method="post" action="{action}">{csrf}'
        f'<label class="visually-hidden" for="until-{pk}">End date for {_e(m.account.name)}</label>'
        f'<input id="until-{pk}" type="date" name="valid_until" value="{_day(m.valid_until, "")}">'
        '<button class="button-quiet button-small" type="submit" name="save">Set</button>'
        f"{clear}{left}</form>"
    )


def _button_form(action: str, csrf: str, label: str) -> str:
    return (
        f'<form method="post" action="{action}" class="inline">{csrf}'
        f'<button class="button-quiet button-small" type="submit">{label}</button></form>'
    )


def _manage_row(
    m: Membership, viewer: Viewer, manage_url: str, keep: str, csrf: str, today: datetime.date
) -> str:
    pk = int(m.pk)
    member_url = f"{manage_url}members/{pk}/"
    if viewer.may_appoint(m):
        appoint = _button_form(f"{member_url}appoint/{keep}", csrf, "Make manager")
    elif viewer.may_unappoint(m):
        appoint = _button_form(f"{member_url}unappoint/{keep}", csrf, "Remove manager role")
    else:
        appoint = ""
    name = _e(m.account.name)
    remove = (
        '<details class="remove"><summary>Remove…</summary>'
        f'<form method="post" action="{member_url}remove/{keep}">{csrf}'
        f'<label for="remove-comment-{pk}">Comment (optional)</label>'
        f'<input id="remove-comment-{pk}" type="text" name="comment" maxlength="2000">'
        f'<button class="button-danger button-small" type="submit">Remove {name}</button>'
        "</form></details>"
        if viewer.may_remove(m)
        else ""
    )
    account = m.account
    status = (
        ""
        if account.status == account.Status.ACTIVE
        else f' · <span class="badge badge-suspended">{_e(account.get_status_display())}</span>'
    )
    until = _end_date(m, viewer, f"{member_url}valid-until/{keep}", csrf, today)
    return (
        f'<tr id="member-{pk}">'
        f'<td>{_e(account.get_full_name())} <div class="muted">{name}{status}</div></td>'
        f'<td data-label="Role">{_role_badge(m)}</td>'
        f'<td class="date" data-label="Since">{_day(m.decided_at, "—")}</td>'
        f'<td data-label="Member until">{until}</td>'
        f'<td class="actions" data-label="Actions">{appoint}{remove}</td>'
        "</tr>\n"
    )


def _csrf_input(context) -> str:
    """{% csrf_token %}'s hidden input."""
    return (
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{_e(str(context["csrf_token"]))}">'
    )


@register.simple_tag(takes_context=True)
def manage_rows(context, memberships, viewer: Viewer, manage_url: str, keep: str) -> SafeString:
    """The manage page's member rows with the actions the viewer may take on each."""
    csrf = _csrf_input(context)
    manage_url, keep = _e(manage_url), _e(keep)
    today = timezone.localdate()
    return _safe([_manage_row(m, viewer, manage_url, keep, csrf, today) for m in memberships])


def _request_item(m: Membership, manage_url: str, keep: str, csrf: str) -> str:
    pk = int(m.pk)
    account = m.account
    email = f", {_e(account.email)}" if account.email else ""
    asked = timezone.localtime(m.created).strftime("%Y-%m-%d %H:%M")
    message = (
        # |linebreaksbr: the text escaped, each line break a <br>
        f'<blockquote class="quote">'
        f"{_e(normalize_newlines(m.request_message)).replace(chr(10), '<br>')}</blockquote>"
        if m.request_message
        else '<p class="muted">No message.</p>'
    )
    request_url = f"{manage_url}requests/{pk}/"
    return (
        f'<li class="request" id="request-{pk}">'
        f'<form method="post" action="{request_url}approve/{keep}">{csrf}'
        '<div class="request-head">'
        f"<strong>{_e(account.get_full_name())}</strong> "
        f'<span class="muted">({_e(account.name)}{email})</span> '
        f'<span class="muted">asked on {asked}</span></div>'
        f"{message}"
        '<div class="decision-fields"><div>'
        f'<label for="comment-{pk}">Comment '
        '<span class="muted">(a reason is required to reject)</span></label>'
        f'<textarea id="comment-{pk}" name="comment" rows="2" maxlength="2000"></textarea>'
        "</div><div>"
        f'<label for="valid-until-{pk}">Member until <span class="muted">(optional)</span></label>'
        f'<input id="valid-until-{pk}" type="date" name="valid_until">'
        "</div></div>"
        '<div class="form-actions"><button type="submit">Approve</button> '
        '<button class="button-danger" type="submit" '
        f'formaction="{request_url}reject/{keep}">Reject</button></div>'
        "</form></li>\n"
    )


@register.simple_tag(takes_context=True)
def request_items(context, requests, manage_url: str, keep: str) -> SafeString:
    """The manage page's waiting requests, each a form to approve or reject it."""
    csrf = _csrf_input(context)
    manage_url, keep = _e(manage_url), _e(keep)
    return _safe([_request_item(m, manage_url, keep, csrf) for m in requests])
