"""The rows of the campaign pages' long tables, built with format_html.

The campaign list, the member list and the manage page repeat one row up to 25 times. Django's
template engine spends 10-20 µs on each variable, filter and {% if %} it renders, which made
these rows most of each page's CPU (issue 16, "Page cost"); the same markup written out here
costs a few µs a row. The page around the rows stays in its template, and every value is
escaped by format_html as the template would. What a row may offer (which buttons) is decided
by the Viewer, not here.
"""

import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from campaigns.models import Membership
from campaigns.selectors import Viewer
from campaigns.templatetags.campaign_tags import days_from_today, embargo_status

register = template.Library()

Role = Membership.Role
NOTHING = mark_safe("")


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


def _joined(rows) -> SafeString:
    """Rows made by format_html, one after the other (each is escaped already)."""
    return format_html_join("", "{}", ((row,) for row in rows))


def _role_badge(membership: Membership) -> SafeString | str:
    if membership.role == Role.MEMBER:
        return "member"
    return format_html('<span class="badge badge-info">{}</span>', membership.get_role_display())


# --- the campaign list -------------------------------------------------------------------------

CAMPAIGN_ROW = (
    "<tr>"
    '<td><a class="campaign-name" href="{url}">{slug}</a>{archived}'
    '<div class="muted">{title}</div></td>'
    '<td data-label="PI">{pi} <div class="muted">{pi_name}</div></td>'
    '<td data-label="Embargo">{embargo}</td>'
    '<td class="num" data-label="Members">{members}</td>'
    '<td data-label="You">{you}</td>'
    "</tr>\n"
)
ARCHIVED = mark_safe(' <span class="badge">archived</span>')
YOU = {
    "pi": mark_safe('<span class="badge badge-info">PI</span>'),
    Membership.State.APPROVED: mark_safe('<span class="badge badge-approved">member</span>'),
    Membership.State.REQUESTED: mark_safe('<span class="badge badge-requested">requested</span>'),
    None: mark_safe('<span class="muted" aria-label="not a member">—</span>'),
}


@register.simple_tag(takes_context=True)
def campaign_rows(context, campaigns, campaigns_url: str) -> SafeString:
    """The list's rows: campaign, PI, embargo, current members, and the viewer's own standing
    (`viewer_state` from selectors.campaign_list)."""
    user = context.get("user")
    viewer_pk = user.pk if user is not None and user.is_authenticated else None
    rows = []
    for campaign in campaigns:
        if viewer_pk is not None and campaign.pi_id == viewer_pk:
            you = YOU["pi"]
        else:
            you = YOU.get(getattr(campaign, "viewer_state", None), YOU[None])
        rows.append(
            format_html(
                CAMPAIGN_ROW,
                url=f"{campaigns_url}{campaign.slug}/",
                slug=campaign.slug,
                archived=ARCHIVED if campaign.status == campaign.Status.ARCHIVED else NOTHING,
                title=campaign.title,
                pi=campaign.pi.get_full_name(),
                pi_name=campaign.pi.name,
                embargo=embargo_status(campaign),
                members=campaign.member_count,
                you=you,
            )
        )
    return _joined(rows)


# --- the member list on the campaign page -------------------------------------------------------

MEMBER_ROW = (
    "<tr>"
    '<td>{full_name} <span class="muted">({name})</span></td>'
    '<td data-label="Role">{role}</td>'
    '<td class="date" data-label="Since">{since}</td>'
    '<td data-label="Until">{until}</td>'
    "</tr>\n"
)


@register.simple_tag
def member_rows(memberships) -> SafeString:
    """The campaign page's member rows: who, role, since when, until when."""
    return format_html_join(
        "",
        MEMBER_ROW,
        (
            {
                "full_name": m.account.get_full_name(),
                "name": m.account.name,
                "role": _role_badge(m),
                "since": _day(m.decided_at, "—"),
                "until": _day(m.valid_until, "no end date"),
            }
            for m in memberships
        ),
    )


# --- the manage page ---------------------------------------------------------------------------

MANAGE_ROW = (
    '<tr id="member-{pk}">'
    '<td>{full_name} <div class="muted">{name}{status}</div></td>'
    '<td data-label="Role">{role}</td>'
    '<td class="date" data-label="Since">{since}</td>'
    '<td data-label="Member until">{until}</td>'
    '<td class="actions" data-label="Actions">{appoint}{remove}</td>'
    "</tr>\n"
)
STATUS = ' · <span class="badge badge-suspended">{}</span>'
CSRF = '<input type="hidden" name="csrfmiddlewaretoken" value="{}">'
END_DATE_FORM = (
    '<form class="valid-until" method="post" action="{action}">{csrf}'
    '<label class="visually-hidden" for="until-{pk}">End date for {name}</label>'
    '<input id="until-{pk}" type="date" name="valid_until" value="{value}">'
    '<button class="button-quiet button-small" type="submit" name="save">Set</button>'
    "{clear}{left}</form>"
)
END_DATE_CLEAR = mark_safe(
    '<button class="button-quiet button-small" type="submit" name="clear" value="1">Clear</button>'
)
END_DATE_SHOWN = "{until}{left}"
LEFT = '<div class="muted">{}</div>'
APPOINT_FORM = (
    '<form method="post" action="{action}" class="inline">{csrf}'
    '<button class="button-quiet button-small" type="submit">{label}</button></form>'
)
REMOVE_FORM = (
    '<details class="remove"><summary>Remove…</summary>'
    '<form method="post" action="{action}">{csrf}'
    '<label for="remove-comment-{pk}">Comment (optional)</label>'
    '<input id="remove-comment-{pk}" type="text" name="comment" maxlength="2000">'
    '<button class="button-danger button-small" type="submit">Remove {name}</button>'
    "</form></details>"
)


def _end_date(m: Membership, viewer: Viewer, action: str, csrf: SafeString) -> SafeString:
    if m.role == Role.PI:
        return mark_safe('<span class="muted">no end date (PI)</span>')
    days = days_from_today(m.valid_until)
    left = NOTHING if days is None else format_html(LEFT, _days_left(days, today="last day today"))
    if not viewer.may_set_end_date(m):
        return format_html(END_DATE_SHOWN, until=_day(m.valid_until, "no end date"), left=left)
    return format_html(
        END_DATE_FORM,
        action=action,
        csrf=csrf,
        pk=m.pk,
        name=m.account.name,
        value=_day(m.valid_until, ""),
        clear=END_DATE_CLEAR if m.valid_until else NOTHING,
        left=left,
    )


def _manage_row(
    m: Membership, viewer: Viewer, manage_url: str, keep: str, csrf: SafeString
) -> SafeString:
    member_url = f"{manage_url}members/{m.pk}/"
    if viewer.may_appoint(m):
        appoint = format_html(
            APPOINT_FORM, action=f"{member_url}appoint/{keep}", csrf=csrf, label="Make manager"
        )
    elif viewer.may_unappoint(m):
        appoint = format_html(
            APPOINT_FORM,
            action=f"{member_url}unappoint/{keep}",
            csrf=csrf,
            label="Remove manager role",
        )
    else:
        appoint = NOTHING
    remove = (
        format_html(
            REMOVE_FORM,
            action=f"{member_url}remove/{keep}",
            csrf=csrf,
            pk=m.pk,
            name=m.account.name,
        )
        if viewer.may_remove(m)
        else NOTHING
    )
    account = m.account
    return format_html(
        MANAGE_ROW,
        pk=m.pk,
        full_name=account.get_full_name(),
        name=account.name,
        status=NOTHING
        if account.status == account.Status.ACTIVE
        else format_html(STATUS, account.get_status_display()),
        role=_role_badge(m),
        since=_day(m.decided_at, "—"),
        until=_end_date(m, viewer, f"{member_url}valid-until/{keep}", csrf),
        appoint=appoint,
        remove=remove,
    )


@register.simple_tag(takes_context=True)
def manage_rows(context, memberships, viewer: Viewer, manage_url: str, keep: str) -> SafeString:
    """The manage page's member rows with the actions the viewer may take on each."""
    csrf = format_html(CSRF, context["csrf_token"])
    return _joined(_manage_row(m, viewer, manage_url, keep, csrf) for m in memberships)
