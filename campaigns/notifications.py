"""Emails about memberships: new request -> PI and managers, decision -> requester, reminders;
about a campaign's data: embargo lifted, owner changed -> PI and current members.

Mail goes out after the transaction commits (never for a change that was rolled back); a mail
server failure is logged and does not undo the change.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from campaigns.models import Campaign, Membership
from campaigns.permissions import permission_plan
from campaigns.selectors import current_members, managers_of

log = logging.getLogger(__name__)
BCC_BATCH = 100  # recipients per message: mail servers limit them


def _url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _send(template: str, recipients: list[str], context: dict, *, bcc: bool = False) -> None:
    """`bcc`: many recipients who must not see each other's addresses, in batches."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        log.info("no email address for %s; nothing sent", template)
        return
    context = {**context, "site_name": settings.SITE_NAME, "site_url": settings.SITE_URL}
    subject = " ".join(render_to_string(f"campaigns/email/{template}_subject.txt", context).split())
    body = render_to_string(f"campaigns/email/{template}.txt", context)
    html = render_to_string(f"campaigns/email/{template}.html", context)
    batches = (
        [recipients[i : i + BCC_BATCH] for i in range(0, len(recipients), BCC_BATCH)]
        if bcc
        else [recipients]
    )
    for batch in batches:
        message = EmailMultiAlternatives(
            subject=subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[] if bcc else batch,
            bcc=batch if bcc else [],
        )
        message.attach_alternative(html, "text/html")
        transaction.on_commit(message.send, robust=True)


def request_new(membership: Membership) -> None:
    campaign = membership.campaign
    recipients = [campaign.pi.email] + [m.email for m in managers_of(campaign)]
    _send(
        "request_new",
        recipients,
        {
            "membership": membership,
            "campaign": campaign,
            "requester": membership.account,
            "manage_url": _url("campaigns:manage", campaign.slug),
        },
    )


def decision(membership: Membership) -> None:
    _send(
        "decision",
        [membership.account.email],
        {
            "membership": membership,
            "campaign": membership.campaign,
            "approved": membership.state == Membership.State.APPROVED,
            "detail_url": _url("campaigns:detail", membership.campaign.slug),
            "mine_url": _url("campaigns:mine"),
        },
    )


def reminder(membership: Membership, *, days_left: int) -> None:
    _send(
        "reminder",
        [membership.account.email],
        {
            "membership": membership,
            "campaign": membership.campaign,
            "days_left": days_left,
            "mine_url": _url("campaigns:mine"),
        },
    )


def _pi_and_members(campaign: Campaign) -> list[str]:
    return [campaign.pi.email] + [a.email for a in current_members(campaign).only("email")]


def embargo_lifted(campaign: Campaign) -> None:
    """The embargo has ended: the data is readable by everybody from the next permission run."""
    _send(
        "embargo_lifted",
        _pi_and_members(campaign),
        {"campaign": campaign, "detail_url": _url("campaigns:detail", campaign.slug)},
        bcc=True,
    )


def owner_changed(campaign: Campaign, *, old_pi) -> None:
    """A new PI: the campaign's data paths change owner on the next permission run."""
    _send(
        "owner_changed",
        _pi_and_members(campaign) + [old_pi.email],
        {
            "campaign": campaign,
            "old_pi": old_pi,
            "plan": list(permission_plan(campaign=campaign.slug)),
            "detail_url": _url("campaigns:detail", campaign.slug),
        },
        bcc=True,
    )
