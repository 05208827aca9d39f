"""Emails about memberships: new request -> PI and managers, decision -> requester, reminders,
a member left -> PI; about a campaign's data: embargo lifted, owner changed -> PI and current
members; campaign requests -> admins, their decision -> the requester.

Mail goes through accounts.mail: queued after the transaction commits (never for a change that
was rolled back), delivered by the Celery worker; a mail server failure never undoes the change.
"""

from django.conf import settings
from django.urls import reverse

from accounts.mail import mail_send
from accounts.models import Account
from campaigns.models import Campaign, CampaignRequest, Membership
from campaigns.permissions import permission_plan
from campaigns.selectors import current_members, managers_of


def _url(name: str, *args) -> str:
    return settings.SITE_URL + reverse(name, args=args)


def _send(template: str, recipients: list[str], context: dict, *, bcc: bool = False) -> None:
    """`bcc`: many recipients who must not see each other's addresses (sent in batches)."""
    mail_send(
        template=f"campaigns/email/{template}", recipients=recipients, context=context, bcc=bcc
    )


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
