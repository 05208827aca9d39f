"""IdP groups -> memberships: a campaign linked to an IAM group follows that group's members.

Run after each SCIM sync of the provider (campaigns.receivers). Every change is a step of the
membership state machine through the usual services, so it is audited and mailed like the same
step taken by a manager; `actor=None` is the system. Memberships the group added (source SCIM)
end when the person leaves the group; members added in the portal are never touched.
"""

import logging

from django.core.exceptions import PermissionDenied, ValidationError

from campaigns.models import Campaign, Membership
from campaigns.selectors import idp_group_members_wanted
from campaigns.services.membership import membership_add, membership_approve, membership_revoke

log = logging.getLogger(__name__)

State = Membership.State
SCIM = Membership.Source.SCIM


def memberships_follow_idp_groups(*, idp: str) -> dict[str, int]:
    """Bring the memberships of every active campaign linked to a group of `idp` up to date.

    Each step is its own transaction: a step refused meanwhile (a manager decided first, the
    account was suspended) is logged and skipped, and the next sync looks again. Returns counts.
    """
    counts = {"campaign_members_added": 0, "campaign_members_revoked": 0, "campaign_skipped": 0}
    campaigns = Campaign.objects.filter(
        idp_group__idp=idp, status=Campaign.Status.ACTIVE
    ).select_related("idp_group")
    for campaign in campaigns:
        for key, value in _campaign_follow(campaign).items():
            counts[key] += value
    return counts


def _campaign_follow(campaign: Campaign) -> dict[str, int]:
    group_name = campaign.idp_group.name
    wanted = idp_group_members_wanted(campaign=campaign)
    open_rows = Membership.objects.filter(
        campaign=campaign, state__in=Membership.OPEN_STATES
    ).select_related("account", "campaign")
    have = {m.account_id: m for m in open_rows}
    added = revoked = skipped = 0
    for account_id, membership in have.items():
        if account_id in wanted or membership.source != SCIM:
            continue
        if _step(
            membership_revoke,
            membership=membership,
            actor=None,
            comment=f"No longer in IAM group {group_name}.",
        ):
            revoked += 1
        else:
            skipped += 1
    comment = f"Member of IAM group {group_name}."
    for account_id, name in sorted(wanted.items(), key=lambda item: item[1]):
        membership = have.get(account_id)
        if membership is None:
            done = _step(
                membership_add,
                campaign=campaign,
                account_name=name,
                actor=None,
                comment=comment,
                source=SCIM,
            )
        elif membership.state == State.REQUESTED:
            done = _step(
                membership_approve, membership=membership, actor=None, comment=comment, source=SCIM
            )
        else:
            continue
        if done:
            added += 1
        else:
            skipped += 1
    return {
        "campaign_members_added": added,
        "campaign_members_revoked": revoked,
        "campaign_skipped": skipped,
    }


def _step(service, **kwargs) -> bool:
    try:
        service(**kwargs)
    except (ValidationError, PermissionDenied) as exc:
        log.warning("IdP group follow-up: %s skipped: %s", service.__name__, exc)
        return False
    return True
