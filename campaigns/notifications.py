"""Emails about memberships: new request -> PI and managers, decision -> requester, reminders,
a member left -> PI, campaign requests -> admins, their decision -> the requester.

Mail goes out after the transaction commits (never for a change that was rolled back); a mail
server failure is logged and does not undo the change.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Account
from campaigns.models import CampaignRequest, Membership
from campaigns.selectors import managers_of

log = logging.getLogger(__name__)


def _url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _send(template: str, recipients: list[str], context: dict) -> None:
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        log.info("no email address for %s; nothing sent", template)
        return
    context = {**context, "site_name": settings.SITE_NAME, "site_url": settings.SITE_URL}
    subject = " ".join(render_to_string(f"campaigns/email/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"campaigns/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(
        render_to_string(f"campaigns/email/{template}.html", context), "text/html"
    )
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


def member_left(membership: Membership, *, was_manager: bool) -> None:
    """Tell the PI that someone left their campaign (and gave up the manager role with it)."""
    campaign = membership.campaign
    _send(
        "left",
        [campaign.pi.email],
        {
            "membership": membership,
            "campaign": campaign,
            "member": membership.account,
            "was_manager": was_manager,
            "manage_url": _url("campaigns:manage", campaign.slug),
        },
    )


def campaign_request_new(request: CampaignRequest) -> None:
    admins = Account.objects.filter(status=Account.Status.ACTIVE, is_staff=True)
    _send(
        "campaign_request_new",
        [a.email for a in admins],
        {
            "request": request,
            "requester": request.requester,
            "requests_url": _url("campaigns:requests"),
        },
    )


def campaign_request_decision(request: CampaignRequest) -> None:
    _send(
        "campaign_request_decision",
        [request.requester.email],
        {
            "request": request,
            "approved": request.state == CampaignRequest.State.APPROVED,
            "manage_url": _url("campaigns:manage", request.slug) if request.campaign_id else "",
            "new_url": _url("campaigns:new"),
        },
    )
