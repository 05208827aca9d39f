"""Shared rules of the campaign services: the state machine, authority checks, helpers."""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services import audit_record
from campaigns.models import Campaign, Membership
from campaigns.selectors import viewer_for

State = Membership.State
Role = Membership.Role

# The membership state machine; anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    State.REQUESTED: frozenset({State.APPROVED, State.REJECTED, State.WITHDRAWN}),
    State.APPROVED: frozenset({State.REVOKED, State.EXPIRED, State.LEFT}),
}
VERB = {
    State.APPROVED: "approved",
    State.REJECTED: "rejected",
    State.WITHDRAWN: "withdrawn",
    State.REVOKED: "ended",
    State.EXPIRED: "expired",
    State.LEFT: "left",
}

REMINDER_DAYS = {"14d": 14, "1d": 1}
# An embargo that ended longer ago than this is not announced any more (beat down for a week).
EMBARGO_LIFT_LOOKBACK_DAYS = 7
# Campaign pages live at /campaigns/<slug>/: these slugs would hide other pages.
RESERVED_SLUGS = frozenset({"mine", "who-can-read", "new", "requests"})


# --- authority --------------------------------------------------------------------------------


def require_admin(actor: Account | None, what: str) -> None:
    if actor is not None and not actor.is_admin:
        raise PermissionDenied(f"Only a data-centre admin may {what}.")


def require_manager(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and not viewer_for(campaign=campaign, account=actor).may_manage:
        raise PermissionDenied(
            f"Only the PI or a manager of {campaign.slug} may {what}; ask them to do it."
        )


def require_pi(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and campaign.pi_id != actor.pk:
        raise PermissionDenied(f"Only the PI of {campaign.slug} may {what}.")


def require_pi_or_admin(campaign: Campaign, actor: Account | None, what: str) -> None:
    if actor is not None and campaign.pi_id != actor.pk and not actor.is_admin:
        raise PermissionDenied(f"Only the PI of {campaign.slug} or an admin may {what}.")


def require_active_campaign(campaign: Campaign) -> None:
    status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
    if status != Campaign.Status.ACTIVE:
        raise ValidationError(
            f"Campaign {campaign.slug} is archived: it takes no new members. "
            "Ask an admin if it should be reopened."
        )


def require_active_account(account: Account) -> None:
    if not account.is_active:
        raise ValidationError(
            f"Account {account.name} is {account.get_status_display()}: an admin must "
            "reactivate it before it can join a campaign."
        )


# --- helpers ----------------------------------------------------------------------------------


def lock_campaign(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def lock_membership(membership: Membership) -> Membership:
    """Re-read the membership under a row lock, so two decisions cannot both win."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("account", "campaign")
        .get(pk=membership.pk)
    )


def move(membership: Membership, to: str) -> None:
    """Apply one state-machine step or refuse it with a sentence."""
    if to not in TRANSITIONS.get(membership.state, frozenset()):
        if to in TRANSITIONS[State.REQUESTED]:
            rule = "only a request waiting for a decision can be"
        else:
            rule = "only an approved membership can be"
        raise ValidationError(
            f"{membership.account.name}'s membership of {membership.campaign.slug} is "
            f"{membership.state}, so it cannot be {VERB[to]}: {rule}. Reload the page to see "
            "its current state."
        )
    membership.state = to


def save_clean(obj, **kwargs) -> None:
    obj.full_clean(**kwargs)
    obj.save()


def audit_membership(
    action: str, *, actor, membership: Membership, comment: str = "", **detail
) -> None:
    audit_record(
        action=action,
        actor=actor,
        account=membership.account,
        target=f"campaign:{membership.campaign.slug}",
        comment=comment,
        detail={"membership": membership.pk, "state": membership.state, **detail},
    )


def validate_valid_until(valid_until: datetime.date | None) -> None:
    if valid_until is not None and valid_until < timezone.localdate():
        raise ValidationError(
            f"The end date {valid_until:%Y-%m-%d} is in the past: pick today or a later day, "
            "or leave it empty for no end date."
        )


def open_membership(campaign: Campaign, account: Account) -> Membership | None:
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("account", "campaign")
        .filter(campaign=campaign, account=account, state__in=Membership.OPEN_STATES)
        .first()
    )


def insert_open(membership: Membership) -> Membership:
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
