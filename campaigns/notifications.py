"""Emails about memberships: new request -> PI and managers, decision -> requester, reminders.

Mail goes through accounts.mail: queued after the transaction commits (never for a change that
was rolled back), delivered by the Celery worker; a mail server failure never undoes the change.
"""

from django.conf import settings
from django.urls import reverse

from accounts.mail import mail_send
from campaigns.models import Membership
from campaigns.selectors import managers_of


def _url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _send(template: str, recipients: list[str], context: dict) -> None:
    mail_send(template=f"campaigns/email/{template}", recipients=recipients, context=context)


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
