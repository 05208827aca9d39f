"""Campaigns: creation with a GID, PI, embargo, data paths, archive."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, IdpGroup
from accounts.services import audit_record, posix_id_allocate
from campaigns import notifications
from campaigns.models import Campaign, Membership
from campaigns.services.rules import (
    RESERVED_SLUGS,
    Role,
    State,
    insert_open,
    lock_campaign,
    move,
    open_membership,
    require_active_account,
    require_admin,
    require_pi_or_admin,
    save_clean,
)

# --- campaigns --------------------------------------------------------------------------------


def data_paths_clean(data_paths: list[str]) -> list[str]:
    """Strip, drop blanks and trailing slashes, de-duplicate, sort."""
    cleaned = {p.strip().rstrip("/") or "/" for p in data_paths if p and p.strip()}
    return sorted(cleaned)


@transaction.atomic
def campaign_create(
    *,
    slug: str,
    title: str,
    pi: Account,
    actor: Account | None,
    description: str = "",
    embargo_until: datetime.date | None = None,
    data_paths: list[str] | None = None,
    comment: str = "",
) -> Campaign:
    """A new campaign with a fresh GID; its PI becomes an approved member with role pi."""
    require_admin(actor, "create campaigns")
    require_active_account(pi)
    if slug in RESERVED_SLUGS:
        raise ValidationError(f"{slug!r} is reserved for a page of the portal: pick another name.")
    campaign = Campaign(
        slug=slug,
        title=title,
        description=description,
        pi=pi,
        embargo_until=embargo_until,
        data_paths=data_paths_clean(data_paths or []),
        gid=0,
    )
    campaign.full_clean(exclude=["gid"])
    campaign.gid = posix_id_allocate(kind="gid")
    campaign.save()
    membership = Membership(
        campaign=campaign,
        account=pi,
        role=Role.PI,
        state=State.APPROVED,
        decided_by=actor,
        decided_at=timezone.now(),
        comment="PI of the campaign",
    )
    save_clean(membership)
    audit_record(
        action="campaign.create",
        actor=actor,
        account=pi,
        target=f"campaign:{slug}",
        comment=comment,
        detail={"gid": campaign.gid, "pi": pi.name},
    )
    return campaign


@transaction.atomic
def campaign_update_details(
    *, campaign: Campaign, title: str, description: str, actor: Account | None, comment: str = ""
) -> Campaign:
    require_pi_or_admin(campaign, actor, "change the title and description")
    campaign = lock_campaign(campaign)
    campaign.title, campaign.description = title, description
    save_clean(campaign)
    audit_record(
        action="campaign.update_details",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
    )
    return campaign


@transaction.atomic
def campaign_archive(*, campaign: Campaign, actor: Account | None, comment: str = "") -> Campaign:
    """Close a campaign: no new members, its group leaves the storage exports (so embargoed data
    is readable by nobody until the embargo ends), its GID stays reserved, memberships stay as
    history."""
    require_admin(actor, "archive campaigns")
    campaign = lock_campaign(campaign)
    if campaign.status == Campaign.Status.ARCHIVED:
        raise ValidationError(f"Campaign {campaign.slug} is already archived.")
    campaign.status = Campaign.Status.ARCHIVED
    save_clean(campaign)
    audit_record(
        action="campaign.archive", actor=actor, target=f"campaign:{campaign.slug}", comment=comment
    )
    return campaign


@transaction.atomic
def campaign_set_pi(
    *, campaign: Campaign, pi: Account, actor: Account | None, comment: str = ""
) -> Campaign:
    """Hand the campaign to a new PI; the old PI stays an ordinary member."""
    require_admin(actor, "assign a campaign's PI")
    require_active_account(pi)
    campaign = lock_campaign(campaign)
    old_pi = campaign.pi
    if old_pi.pk == pi.pk:
        raise ValidationError(f"{pi.name} is already the PI of {campaign.slug}.")
    now = timezone.now()
    old = open_membership(campaign, old_pi)
    if old is not None and old.role == Role.PI:
        old.role = Role.MEMBER
        save_clean(old)
    new = open_membership(campaign, pi)
    if new is None:
        new = insert_open(
            Membership(campaign=campaign, account=pi, role=Role.PI, state=State.APPROVED)
        )
    elif new.state == State.REQUESTED:
        move(new, State.APPROVED)
    new.role, new.valid_until, new.decided_by, new.decided_at = Role.PI, None, actor, now
    save_clean(new)
    campaign.pi = pi
    save_clean(campaign)
    audit_record(
        action="campaign.set_pi",
        actor=actor,
        account=pi,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={"from": old_pi.name, "to": pi.name},
    )
    # The PI owns the campaign's data on disk (campaigns.permissions): the files change owner.
    audit_record(
        action="campaign.owner_change",
        actor=actor,
        account=pi,
        target=f"campaign:{campaign.slug}",
        comment="owner changed",
        detail={
            "paths": list(campaign.data_paths),
            "from": {"name": old_pi.name, "uid": old_pi.uid},
            "to": {"name": pi.name, "uid": pi.uid},
        },
    )
    notifications.owner_changed(campaign, old_pi=old_pi)
    return campaign


@transaction.atomic
def campaign_update_embargo(
    *,
    campaign: Campaign,
    embargo_until: datetime.date | None,
    actor: Account | None,
    comment: str = "",
) -> Campaign:
    """Set or clear (None: public) the day the campaign's data becomes public."""
    require_pi_or_admin(campaign, actor, "change the embargo")
    campaign = lock_campaign(campaign)
    before = campaign.embargo_until
    campaign.embargo_until = embargo_until
    save_clean(campaign)
    audit_record(
        action="campaign.update_embargo",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={
            "from": before.isoformat() if before else None,
            "to": embargo_until.isoformat() if embargo_until else None,
        },
    )
    return campaign


@transaction.atomic
def campaign_update_data_paths(
    *, campaign: Campaign, data_paths: list[str], actor: Account | None, comment: str = ""
) -> Campaign:
    """Replace the storage path prefixes that hold the campaign's data."""
    require_pi_or_admin(campaign, actor, "change the data paths")
    campaign = lock_campaign(campaign)
    before = list(campaign.data_paths)
    campaign.data_paths = data_paths_clean(data_paths)
    save_clean(campaign)
    audit_record(
        action="campaign.update_data_paths",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={"from": before, "to": campaign.data_paths},
    )
    return campaign


@transaction.atomic
def campaign_set_idp_group(
    *, campaign: Campaign, idp_group: IdpGroup | None, actor: Account | None, comment: str = ""
) -> Campaign:
    """Link the campaign to an IdP group (its members become members at each SCIM sync), or
    unlink it (None). A change of who gets access, so only admins, and always audited."""
    require_admin(actor, "link a campaign to an IdP group")
    campaign = lock_campaign(campaign)
    before = campaign.idp_group
    campaign.idp_group = idp_group
    save_clean(campaign)
    audit_record(
        action="campaign.set_idp_group",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={
            "from": f"{before.idp}:{before.name}" if before else None,
            "to": f"{idp_group.idp}:{idp_group.name}" if idp_group else None,
        },
    )
    return campaign
