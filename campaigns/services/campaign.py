"""Campaigns: creation with a GID, PI, embargo, data paths, archive."""

import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, IdpGroup
from accounts.services import audit_record, posix_id_allocate
from campaigns import notifications
from campaigns.models import Campaign, Membership
from campaigns.selectors import data_path_conflicts
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


# One key for pg_advisory_xact_lock: every writer of data paths takes it first, so two
# concurrent claims cannot both pass the uniqueness check (SQLite serialises writers anyway).
DATA_PATHS_LOCK = 0x6761_7465_7061_7468  # "gatepath"


def _lock_data_paths() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DATA_PATHS_LOCK])


def _require_unique_data_paths(paths: list[str], campaign: Campaign | None) -> None:
    """Refuse a path equal to, inside, containing or a string prefix of another campaign's."""
    conflicts = data_path_conflicts(paths, exclude=campaign)
    if conflicts:
        raise ValidationError([c.sentence for c in conflicts])


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
    _lock_data_paths()
    data_paths = data_paths_clean(data_paths or [])
    _require_unique_data_paths(data_paths, None)
    campaign = Campaign(
        slug=slug,
        title=title,
        description=description,
        pi=pi,
        embargo_until=embargo_until,
        data_paths=data_paths,
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
    _lock_data_paths()
    campaign = lock_campaign(campaign)
    before = list(campaign.data_paths)
    campaign.data_paths = data_paths_clean(data_paths)
    save_clean(campaign)
    _require_unique_data_paths(campaign.data_paths, campaign)
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


def campaign_move_data_path(
    *, path: str, to: Campaign, actor: Account | None, comment: str = ""
) -> Campaign:
    """Move one data path from the campaign that holds it to `to` (admins only, audited)."""
    require_admin(actor, "move a data path between campaigns")
    _lock_data_paths()
    (path,) = data_paths_clean([path]) or [""]
    source = (
        Campaign.objects.select_for_update().filter(data_paths__contains=[path]).first()
        if connection.features.supports_json_field_contains
        else next((c for c in Campaign.objects.all() if path in c.data_paths), None)
    )
    if source is None:
        raise ValidationError(f"No campaign holds the data path {path}: add it to {to.slug}.")
    if source.pk == to.pk:
        raise ValidationError(f"{path} is already a data path of {to.slug}.")
    source = lock_campaign(source)
    target = lock_campaign(to)
    source.data_paths = [p for p in source.data_paths if p != path]
    save_clean(source)
    target.data_paths = data_paths_clean([*target.data_paths, path])
    save_clean(target)
    _require_unique_data_paths(target.data_paths, target)
    audit_record(
        action="campaign.move_data_path",
        actor=actor,
        target=f"campaign:{target.slug}",
        comment=comment,
        detail={"path": path, "from": source.slug, "to": target.slug},
    )
    return target
