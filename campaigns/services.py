"""Writes for campaigns and memberships: each a keyword-only function in a transaction.

`actor=None` means the system itself (a beat task or an operator's manage.py command).
Authority is checked here as well as in the views, so no caller can skip it.
"""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services import audit_record
from campaigns import notifications
from campaigns.models import Campaign, Membership, PosixIdCounter
from campaigns.selectors import viewer_for

log = logging.getLogger(__name__)

State = Membership.State
Role = Membership.Role

# The membership state machine; anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    State.REQUESTED: frozenset({State.APPROVED, State.REJECTED, State.WITHDRAWN}),
    State.APPROVED: frozenset({State.REVOKED, State.EXPIRED}),
}
_VERB = {
    State.APPROVED: "approved",
    State.REJECTED: "rejected",
    State.WITHDRAWN: "withdrawn",
    State.REVOKED: "ended",
    State.EXPIRED: "expired",
}

REMINDER_DAYS = {"14d": 14, "1d": 1}
# Campaign pages live at /campaigns/<slug>/: these slugs would hide other pages.
RESERVED_SLUGS = frozenset({"mine", "who-can-read"})


def _posix_range(kind: str) -> tuple[int, int]:
    if kind == "uid":
        return settings.GATEHOUSE_UID_MIN, settings.GATEHOUSE_UID_MAX
    if kind == "gid":
        return settings.GATEHOUSE_GID_MIN, settings.GATEHOUSE_GID_MAX
    raise ValueError(f"unknown POSIX id kind {kind!r}")


@transaction.atomic
def posix_id_allocate(*, kind: str) -> int:
    """The next never-used uid or gid; the counter row lock serialises concurrent callers."""
    low, high = _posix_range(kind)
    PosixIdCounter.objects.get_or_create(kind=kind, defaults={"next_value": low})
    counter = PosixIdCounter.objects.select_for_update().get(kind=kind)
    value = max(counter.next_value, low)
    if value > high:
        raise ValidationError(
            f"The {kind} range {low}-{high} is used up: raise GATEHOUSE_{kind.upper()}_MAX."
        )
    counter.next_value = value + 1
    counter.save(update_fields=["next_value"])
    return value


# --- authority --------------------------------------------------------------------------------


def _require_admin(actor: Account | None, what: str) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(f"Only a data-centre admin may {what}.")


def _require_manager(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and not viewer_for(campaign=campaign, account=actor).may_manage:
        raise PermissionDenied(
            f"Only the PI or a manager of {campaign.slug} may {what}; ask them to do it."
        )


def _require_pi(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and campaign.pi_id != actor.pk:
        raise PermissionDenied(f"Only the PI of {campaign.slug} may {what}.")


def _require_pi_or_admin(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and campaign.pi_id != actor.pk and not actor.is_admin:
        raise PermissionDenied(f"Only the PI of {campaign.slug} or an admin may {what}.")


def _require_active_campaign(campaign: Campaign) -> None:
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status != Campaign.Status.ACTIVE:
        raise ValidationError(
            f"Campaign {campaign.slug} is archived: it takes no new members. "
            "Ask an admin if it should be reopened."
        )


def _require_active_account(account: Account) -> None:
    if not account.is_active:
        raise ValidationError(
            f"Account {account.name} is {account.get_status_display()}: an admin must "
            "reactivate it before it can join a campaign."
        )


# --- helpers ----------------------------------------------------------------------------------


def _lock_campaign(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _lock(membership: Membership) -> Membership:
    """Re-read the membership under a row lock, so two decisions cannot both win."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("account", "campaign")
        .get(pk=membership.pk)
    )


def _move(membership: Membership, to: str) -> None:
    """Apply one state-machine step or refuse it with a sentence."""
    if to not in TRANSITIONS.get(membership.state, frozenset()):
        if to in TRANSITIONS[State.REQUESTED]:
            rule = "only a request waiting for a decision can be"
        else:
            rule = "only an approved membership can be"
        raise ValidationError(
            f"{membership.account.name}'s membership of {membership.campaign.slug} is "
            f"{membership.state}, so it cannot be {_VERB[to]}: {rule}. Reload the page to see "
            "its current state."
        )
    membership.state = to


def _save(obj, **kwargs) -> None:
    obj.full_clean(**kwargs)
    obj.save()


def _audit(action: str, *, actor, membership: Membership, comment: str = "", **detail) -> None:
    audit_record(
        action=action,
        actor=actor,
        account=membership.account,
        target=f"campaign:{membership.campaign.slug}",
        comment=comment,
        detail={"membership": membership.pk, "state": membership.state, **detail},
    )


def _validate_valid_until(valid_until: datetime.date | None) -> None:
    if valid_until is not None and valid_until < timezone.localdate():
        raise ValidationError(
            f"The end date {valid_until:%Y-%m-%d} is in the past: pick today or a later day, "
            "or leave it empty for no end date."
        )


def _open_membership(campaign: Campaign, account: Account) -> Membership | None:
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("account", "campaign")
        .filter(campaign=campaign, account=account, state__in=Membership.OPEN_STATES)
        .first()
    )


def _insert(membership: Membership) -> Membership:
    """Save a new open membership; a concurrent twin trips the one-open-per-account rule."""
    membership.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise ValidationError(
            f"{membership.account.name} already has an open request or membership in "
            f"{membership.campaign.slug}. Reload the page to see it."
        ) from None
    return membership


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
    _require_admin(actor, "create campaigns")
    _require_active_account(pi)
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
    _save(membership)
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
    _require_pi_or_admin(campaign, actor, "change the title and description")
    campaign = _lock_campaign(campaign)
    campaign.title, campaign.description = title, description
    _save(campaign)
    audit_record(
        action="campaign.update_details",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
    )
    return campaign


@transaction.atomic
def campaign_archive(*, campaign: Campaign, actor: Account | None, comment: str = "") -> Campaign:
    """Close a campaign to new members; its GID stays reserved and its members keep access."""
    _require_admin(actor, "archive campaigns")
    campaign = _lock_campaign(campaign)
    if campaign.status == Campaign.Status.ARCHIVED:
        raise ValidationError(f"Campaign {campaign.slug} is already archived.")
    campaign.status = Campaign.Status.ARCHIVED
    _save(campaign)
    audit_record(
        action="campaign.archive", actor=actor, target=f"campaign:{campaign.slug}", comment=comment
    )
    return campaign


@transaction.atomic
def campaign_set_pi(
    *, campaign: Campaign, pi: Account, actor: Account | None, comment: str = ""
) -> Campaign:
    """Hand the campaign to a new PI; the old PI stays an ordinary member."""
    _require_admin(actor, "assign a campaign's PI")
    _require_active_account(pi)
    campaign = _lock_campaign(campaign)
    old_pi = campaign.pi
    if old_pi.pk == pi.pk:
        raise ValidationError(f"{pi.name} is already the PI of {campaign.slug}.")
    now = timezone.now()
    old = _open_membership(campaign, old_pi)
    if old is not None and old.role == Role.PI:
        old.role = Role.MEMBER
        _save(old)
    new = _open_membership(campaign, pi)
    if new is None:
        new = _insert(Membership(campaign=campaign, account=pi, role=Role.PI, state=State.APPROVED))
    elif new.state == State.REQUESTED:
        _move(new, State.APPROVED)
    new.role, new.valid_until, new.decided_by, new.decided_at = Role.PI, None, actor, now
    _save(new)
    campaign.pi = pi
    _save(campaign)
    audit_record(
        action="campaign.set_pi",
        actor=actor,
        account=pi,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={"from": old_pi.name, "to": pi.name},
    )
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
    _require_pi_or_admin(campaign, actor, "change the embargo")
    campaign = _lock_campaign(campaign)
    before = campaign.embargo_until
    campaign.embargo_until = embargo_until
    _save(campaign)
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
    _require_pi_or_admin(campaign, actor, "change the data paths")
    campaign = _lock_campaign(campaign)
    before = list(campaign.data_paths)
    campaign.data_paths = data_paths_clean(data_paths)
    _save(campaign)
    audit_record(
        action="campaign.update_data_paths",
        actor=actor,
        target=f"campaign:{campaign.slug}",
        comment=comment,
        detail={"from": before, "to": campaign.data_paths},
    )
    return campaign


# --- membership: the member's own steps -------------------------------------------------------


@transaction.atomic
def membership_request(*, campaign: Campaign, account: Account, message: str = "") -> Membership:
    """Ask to join; the PI and managers are told by email."""
    _require_active_campaign(campaign)
    _require_active_account(account)
    existing = _open_membership(campaign, account)
    if existing is not None:
        if existing.state == State.APPROVED:
            raise ValidationError(f"You are already a member of {campaign.slug}.")
        raise ValidationError(
            f"You already asked to join {campaign.slug}: wait for the decision, or withdraw "
            "the request first."
        )
    membership = _insert(
        Membership(
            campaign=campaign,
            account=account,
            role=Role.MEMBER,
            state=State.REQUESTED,
            request_message=message.strip(),
        )
    )
    _audit("membership.request", actor=account, membership=membership, comment=message.strip())
    notifications.request_new(membership)
    return membership


@transaction.atomic
def membership_withdraw(*, membership: Membership, actor: Account) -> Membership:
    membership = _lock(membership)
    if membership.account_id != actor.pk:
        raise PermissionDenied("Only the person who asked may withdraw a request.")
    _move(membership, State.WITHDRAWN)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    _save(membership)
    _audit("membership.withdraw", actor=actor, membership=membership)
    return membership


@transaction.atomic
def membership_leave(*, membership: Membership, actor: Account, comment: str = "") -> Membership:
    """A member ends their own membership (recorded as revoked by themselves)."""
    membership = _lock(membership)
    if membership.account_id != actor.pk:
        raise PermissionDenied("Only the member themselves may leave; managers remove members.")
    if membership.role == Role.PI:
        raise ValidationError(
            f"The PI cannot leave {membership.campaign.slug}: ask an admin to assign a new PI "
            "first."
        )
    _move(membership, State.REVOKED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = comment or "left the campaign"
    _save(membership)
    _audit("membership.leave", actor=actor, membership=membership, comment=comment)
    return membership


# --- membership: decisions by the PI, managers and admins -------------------------------------


@transaction.atomic
def membership_approve(
    *,
    membership: Membership,
    actor: Account | None,
    comment: str = "",
    valid_until: datetime.date | None = None,
) -> Membership:
    membership = _lock(membership)
    _require_manager(membership.campaign, actor, "approve requests")
    if actor is not None and membership.account_id == actor.pk and not actor.is_admin:
        raise PermissionDenied(
            "You cannot approve your own request: another manager, the PI or an admin must."
        )
    _validate_valid_until(valid_until)
    _move(membership, State.APPROVED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment, membership.valid_until = comment.strip(), valid_until
    _save(membership)
    _audit("membership.approve", actor=actor, membership=membership, comment=comment)
    notifications.decision(membership)
    return membership


@transaction.atomic
def membership_reject(*, membership: Membership, actor: Account | None, reason: str) -> Membership:
    membership = _lock(membership)
    _require_manager(membership.campaign, actor, "reject requests")
    if not reason or not reason.strip():
        raise ValidationError("Give a reason for the rejection: the requester will read it.")
    _move(membership, State.REJECTED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = reason.strip()
    _save(membership)
    _audit("membership.reject", actor=actor, membership=membership, comment=reason.strip())
    notifications.decision(membership)
    return membership


@transaction.atomic
def membership_add(
    *,
    campaign: Campaign,
    account_name: str,
    actor: Account | None,
    valid_until: datetime.date | None = None,
    comment: str = "",
) -> Membership:
    """Add an account by name, approved at once (a waiting request of theirs is approved)."""
    _require_manager(campaign, actor, "add members")
    _require_active_campaign(campaign)
    _validate_valid_until(valid_until)
    name = account_name.strip().lower()
    account = Account.objects.filter(name=name).first()
    if account is None:
        raise ValidationError(
            f"There is no account named {name!r}. Check the spelling: people get an account "
            "when they first log in."
        )
    _require_active_account(account)
    if actor is not None and account.pk == actor.pk and not actor.is_admin:
        raise PermissionDenied("You cannot add yourself: another manager, the PI or an admin must.")
    membership = _open_membership(campaign, account)
    if membership is not None and membership.state == State.APPROVED:
        raise ValidationError(f"{account.name} is already a member of {campaign.slug}.")
    if membership is None:
        membership = _insert(
            Membership(campaign=campaign, account=account, role=Role.MEMBER, state=State.APPROVED)
        )
    else:
        _move(membership, State.APPROVED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment, membership.valid_until = comment.strip(), valid_until
    _save(membership)
    _audit("membership.add", actor=actor, membership=membership, comment=comment)
    notifications.decision(membership)
    return membership


@transaction.atomic
def membership_revoke(
    *, membership: Membership, actor: Account | None, comment: str = ""
) -> Membership:
    """Remove a member. Managers are removed by the PI; the PI only by assigning a new PI."""
    membership = _lock(membership)
    campaign = membership.campaign
    _require_manager(campaign, actor, "remove members")
    if membership.role == Role.PI:
        raise ValidationError(
            f"{membership.account.name} is the PI of {campaign.slug}: an admin must assign a "
            "new PI before the old one can be removed."
        )
    if membership.role == Role.MANAGER and actor is not None and not actor.is_admin:
        _require_pi(campaign, actor, "remove a manager")
    _move(membership, State.REVOKED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = comment.strip()
    _save(membership)
    _audit("membership.revoke", actor=actor, membership=membership, comment=comment)
    return membership


@transaction.atomic
def membership_set_valid_until(
    *,
    membership: Membership,
    valid_until: datetime.date | None,
    actor: Account | None,
    comment: str = "",
) -> Membership:
    """Set or clear (None) the last day of a membership; reminders start over for a new date."""
    membership = _lock(membership)
    _require_manager(membership.campaign, actor, "set membership end dates")
    if membership.state != State.APPROVED:
        raise ValidationError(
            f"{membership.account.name}'s membership is {membership.state}: only an approved "
            "membership has an end date."
        )
    if membership.role == Role.PI and valid_until is not None:
        raise ValidationError("The PI's membership cannot end; an admin can assign a new PI.")
    _validate_valid_until(valid_until)
    before = membership.valid_until
    membership.valid_until = valid_until
    if before != valid_until:
        membership.reminder_14d_sent_at = membership.reminder_1d_sent_at = None
    _save(membership)
    _audit(
        "membership.set_valid_until",
        actor=actor,
        membership=membership,
        comment=comment,
        before=before.isoformat() if before else None,
        after=valid_until.isoformat() if valid_until else None,
    )
    return membership


@transaction.atomic
def manager_appoint(
    *, campaign: Campaign, account: Account, actor: Account | None, comment: str = ""
) -> Membership:
    """The PI makes a current member a manager (may decide requests and manage members)."""
    _require_pi(campaign, actor, "appoint managers")
    membership = _open_membership(campaign, account)
    if membership is None or membership.state != State.APPROVED:
        raise ValidationError(
            f"{account.name} is not a member of {campaign.slug}: add them as a member first, "
            "then appoint them."
        )
    if membership.role != Role.MEMBER:
        raise ValidationError(f"{account.name} is already the {membership.get_role_display()}.")
    membership.role = Role.MANAGER
    _save(membership)
    _audit("membership.appoint_manager", actor=actor, membership=membership, comment=comment)
    return membership


@transaction.atomic
def manager_remove(
    *, campaign: Campaign, account: Account, actor: Account | None, comment: str = ""
) -> Membership:
    """The PI takes the manager role away; the person stays a member."""
    _require_pi(campaign, actor, "remove managers")
    membership = _open_membership(campaign, account)
    if membership is None or membership.role != Role.MANAGER:
        raise ValidationError(f"{account.name} is not a manager of {campaign.slug}.")
    membership.role = Role.MEMBER
    _save(membership)
    _audit("membership.remove_manager", actor=actor, membership=membership, comment=comment)
    return membership


# --- background work --------------------------------------------------------------------------


def memberships_expire(*, today: datetime.date | None = None) -> int:
    """Approved memberships past valid_until become expired; each one audited. Returns how many."""
    today = today or timezone.localdate()
    due = Membership.objects.filter(state=State.APPROVED, valid_until__lt=today).values_list(
        "pk", flat=True
    )
    expired = 0
    for pk in list(due):
        with transaction.atomic():
            # Conditional UPDATE: whoever changes the row first owns the expiry.
            claimed = Membership.objects.filter(
                pk=pk, state=State.APPROVED, valid_until__lt=today
            ).update(state=State.EXPIRED, decided_at=timezone.now(), updated=timezone.now())
            if not claimed:
                continue
            membership = Membership.objects.select_related("account", "campaign").get(pk=pk)
            _audit(
                "membership.expire",
                actor=None,
                membership=membership,
                comment=f"valid until {membership.valid_until:%Y-%m-%d}",
            )
            expired += 1
    return expired


def membership_reminders_send(*, today: datetime.date | None = None) -> int:
    """Tell members whose membership ends within 14 days, and again the day before. Once each.

    A reminder is claimed by a conditional UPDATE of its *_sent_at field before the mail goes
    out, so two workers (or two runs) can never both send it. Returns how many were sent.
    """
    today = today or timezone.localdate()
    sent = 0
    for kind, field, low, high in (
        ("1d", "reminder_1d_sent_at", 0, REMINDER_DAYS["1d"]),
        ("14d", "reminder_14d_sent_at", REMINDER_DAYS["1d"] + 1, REMINDER_DAYS["14d"]),
    ):
        window = {
            "state": State.APPROVED,
            "valid_until__gte": today + datetime.timedelta(days=low),
            "valid_until__lte": today + datetime.timedelta(days=high),
            f"{field}__isnull": True,
            "account__status": Account.Status.ACTIVE,
        }
        for pk in list(Membership.objects.filter(**window).values_list("pk", flat=True)):
            with transaction.atomic():
                claimed = Membership.objects.filter(pk=pk, **window).update(
                    **{field: timezone.now()}
                )
                if not claimed:
                    continue
                membership = Membership.objects.select_related("account", "campaign").get(pk=pk)
                notifications.reminder(membership, days_left=(membership.valid_until - today).days)
                sent += 1
            log.info("membership reminder %s sent for membership %s", kind, pk)
    return sent
