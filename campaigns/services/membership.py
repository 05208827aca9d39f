"""Memberships: requests, decisions, members added and removed, managers."""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from campaigns import notifications
from campaigns.models import Campaign, Membership
from campaigns.services.rules import (
    Role,
    State,
    audit_membership,
    insert_open,
    lock_membership,
    move,
    open_membership,
    require_active_account,
    require_active_campaign,
    require_manager,
    require_pi,
    save_clean,
    validate_valid_until,
)

# --- membership: the member's own steps -------------------------------------------------------


@transaction.atomic
def membership_request(*, campaign: Campaign, account: Account, message: str = "") -> Membership:
    """Ask to join; the PI and managers are told by email."""
    require_active_campaign(campaign)
    require_active_account(account)
    existing = open_membership(campaign, account)
    if existing is not None:
        if existing.state == State.APPROVED:
            raise ValidationError(f"You are already a member of {campaign.slug}.")
        raise ValidationError(
            f"You already asked to join {campaign.slug}: wait for the decision, or withdraw "
            "the request first."
        )
    membership = insert_open(
        Membership(
            campaign=campaign,
            account=account,
            role=Role.MEMBER,
            state=State.REQUESTED,
            request_message=message.strip(),
        )
    )
    audit_membership(
        "membership.request", actor=account, membership=membership, comment=message.strip()
    )
    notifications.request_new(membership)
    return membership


@transaction.atomic
def membership_withdraw(*, membership: Membership, actor: Account) -> Membership:
    membership = lock_membership(membership)
    if membership.account_id != actor.pk:
        raise PermissionDenied("Only the person who asked may withdraw a request.")
    move(membership, State.WITHDRAWN)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    save_clean(membership)
    audit_membership("membership.withdraw", actor=actor, membership=membership)
    return membership


@transaction.atomic
def membership_leave(*, membership: Membership, actor: Account, comment: str = "") -> Membership:
    """A member ends their own membership: state `left`; a manager's role ends with it; the PI
    is told by mail."""
    membership = lock_membership(membership)
    if membership.account_id != actor.pk:
        raise PermissionDenied("Only the member themselves may leave; managers remove members.")
    if membership.role == Role.PI:
        raise ValidationError(
            f"The PI cannot leave {membership.campaign.slug}: ask an admin to assign a new PI "
            "first."
        )
    was_manager = membership.role == Role.MANAGER
    move(membership, State.LEFT)
    if was_manager:
        membership.role = Role.MEMBER
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = comment
    save_clean(membership)
    if was_manager:
        audit_membership(
            "membership.remove_manager",
            actor=actor,
            membership=membership,
            comment="left the campaign",
        )
    audit_membership("membership.leave", actor=actor, membership=membership, comment=comment)
    notifications.member_left(membership, was_manager=was_manager)
    return membership


# --- membership: decisions by the PI, managers and admins -------------------------------------


@transaction.atomic
def membership_approve(
    *,
    membership: Membership,
    actor: Account | None,
    comment: str = "",
    valid_until: datetime.date | None = None,
    source: str = Membership.Source.PORTAL,
) -> Membership:
    """Approve a waiting request; `source` SCIM when an IdP group decided it."""
    membership = lock_membership(membership)
    require_manager(membership.campaign, actor, "approve requests")
    if actor is not None and membership.account_id == actor.pk and not actor.is_admin:
        raise PermissionDenied(
            "You cannot approve your own request: another manager, the PI or an admin must."
        )
    validate_valid_until(valid_until)
    move(membership, State.APPROVED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment, membership.valid_until = comment.strip(), valid_until
    membership.source = source
    save_clean(membership)
    audit_membership("membership.approve", actor=actor, membership=membership, comment=comment)
    notifications.decision(membership)
    return membership


@transaction.atomic
def membership_reject(*, membership: Membership, actor: Account | None, reason: str) -> Membership:
    membership = lock_membership(membership)
    require_manager(membership.campaign, actor, "reject requests")
    if not reason or not reason.strip():
        raise ValidationError("Give a reason for the rejection: the requester will read it.")
    move(membership, State.REJECTED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = reason.strip()
    save_clean(membership)
    audit_membership(
        "membership.reject", actor=actor, membership=membership, comment=reason.strip()
    )
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
    source: str = Membership.Source.PORTAL,
) -> Membership:
    """Add an account by name, approved at once (a waiting request of theirs is approved).

    `source` is SCIM when membership of an IdP group added them (campaigns.services.idp_groups).
    """
    require_manager(campaign, actor, "add members")
    require_active_campaign(campaign)
    validate_valid_until(valid_until)
    name = account_name.strip().lower()
    account = Account.objects.filter(name=name).first()
    if account is None:
        raise ValidationError(
            f"There is no account named {name!r}. Check the spelling: people get an account "
            "when they first log in."
        )
    require_active_account(account)
    if actor is not None and account.pk == actor.pk and not actor.is_admin:
        raise PermissionDenied("You cannot add yourself: another manager, the PI or an admin must.")
    membership = open_membership(campaign, account)
    if membership is not None and membership.state == State.APPROVED:
        raise ValidationError(f"{account.name} is already a member of {campaign.slug}.")
    if membership is None:
        membership = insert_open(
            Membership(campaign=campaign, account=account, role=Role.MEMBER, state=State.APPROVED)
        )
    else:
        move(membership, State.APPROVED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment, membership.valid_until = comment.strip(), valid_until
    membership.source = source
    save_clean(membership)
    audit_membership("membership.add", actor=actor, membership=membership, comment=comment)
    notifications.decision(membership)
    return membership


@transaction.atomic
def membership_revoke(
    *, membership: Membership, actor: Account | None, comment: str = ""
) -> Membership:
    """Remove a member. Managers are removed by the PI; the PI only by assigning a new PI."""
    membership = lock_membership(membership)
    campaign = membership.campaign
    require_manager(campaign, actor, "remove members")
    if membership.role == Role.PI:
        raise ValidationError(
            f"{membership.account.name} is the PI of {campaign.slug}: an admin must assign a "
            "new PI before the old one can be removed."
        )
    if membership.role == Role.MANAGER and actor is not None and not actor.is_admin:
        require_pi(campaign, actor, "remove a manager")
    move(membership, State.REVOKED)
    membership.decided_by, membership.decided_at = actor, timezone.now()
    membership.comment = comment.strip()
    save_clean(membership)
    audit_membership("membership.revoke", actor=actor, membership=membership, comment=comment)
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
    membership = lock_membership(membership)
    campaign = membership.campaign
    require_manager(campaign, actor, "set membership end dates")
    if actor is not None and not actor.is_admin:
        # Like approving oneself: a manager must not lift the end date the PI gave them.
        if membership.account_id == actor.pk and membership.role != Role.PI:
            raise PermissionDenied(
                "You cannot change the end date of your own membership: ask the PI or an admin."
            )
        if membership.role == Role.MANAGER:  # ending a manager is removing one: the PI's call
            require_pi(campaign, actor, "change a manager's end date")
    if membership.state != State.APPROVED:
        raise ValidationError(
            f"{membership.account.name}'s membership is {membership.state}: only an approved "
            "membership has an end date."
        )
    if membership.role == Role.PI and valid_until is not None:
        raise ValidationError("The PI's membership cannot end; an admin can assign a new PI.")
    validate_valid_until(valid_until)
    before = membership.valid_until
    membership.valid_until = valid_until
    if before != valid_until:
        membership.reminder_14d_sent_at = membership.reminder_1d_sent_at = None
    save_clean(membership)
    audit_membership(
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
    require_pi(campaign, actor, "appoint managers")
    membership = open_membership(campaign, account)
    if membership is None or membership.state != State.APPROVED:
        raise ValidationError(
            f"{account.name} is not a member of {campaign.slug}: add them as a member first, "
            "then appoint them."
        )
    if membership.role != Role.MEMBER:
        raise ValidationError(f"{account.name} is already the {membership.get_role_display()}.")
    membership.role = Role.MANAGER
    save_clean(membership)
    audit_membership(
        "membership.appoint_manager", actor=actor, membership=membership, comment=comment
    )
    return membership


@transaction.atomic
def manager_remove(
    *, campaign: Campaign, account: Account, actor: Account | None, comment: str = ""
) -> Membership:
    """The PI takes the manager role away; the person stays a member."""
    require_pi(campaign, actor, "remove managers")
    membership = open_membership(campaign, account)
    if membership is None or membership.role != Role.MANAGER:
        raise ValidationError(f"{account.name} is not a manager of {campaign.slug}.")
    membership.role = Role.MEMBER
    save_clean(membership)
    audit_membership(
        "membership.remove_manager", actor=actor, membership=membership, comment=comment
    )
    return membership
