"""Background work (beat tasks): expiry, end-of-membership reminders, embargoes ending."""

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AuditEvent
from accounts.services import audit_record
from campaigns import notifications
from campaigns.models import Campaign, Membership
from campaigns.services.rules import (
    EMBARGO_LIFT_LOOKBACK_DAYS,
    REMINDER_DAYS,
    State,
    audit_membership,
    lock_campaign,
)

log = logging.getLogger(__name__)

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
            audit_membership(
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
        # Only the row's own columns: PostgreSQL re-checks these on the locked row, whereas a
        # joined condition would become a subquery evaluated on a stale snapshot.
        window = {
            "state": State.APPROVED,
            "valid_until__gte": today + datetime.timedelta(days=low),
            "valid_until__lte": today + datetime.timedelta(days=high),
            f"{field}__isnull": True,
        }
        due = Membership.objects.filter(account__status=Account.Status.ACTIVE, **window)
        for pk in list(due.values_list("pk", flat=True)):
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


EMBARGO_LIFT = "campaign.embargo_lift"


def embargoes_lift(*, today: datetime.date | None = None) -> int:
    """Announce each embargo that has ended (on its day, or up to EMBARGO_LIFT_LOOKBACK_DAYS
    later if the beat was down): an audit event "embargo lifted" and a mail to the PI and the
    current members. Once per campaign and embargo date. Returns how many were announced.

    Nothing here opens the data: the permission plan reads the date itself, and the export's
    ETag holds today's date. The campaign's `updated` is touched so every export's data
    version moves with the announcement too.
    """
    today = today or timezone.localdate()
    window = {
        "embargo_until__lte": today,
        "embargo_until__gt": today - datetime.timedelta(days=EMBARGO_LIFT_LOOKBACK_DAYS),
    }
    lifted = 0
    for campaign in Campaign.objects.filter(**window).only("pk"):
        with transaction.atomic():
            # The row lock serialises two workers; the second then sees the first's event.
            campaign = lock_campaign(campaign)
            if not Campaign.objects.filter(pk=campaign.pk, **window).exists():
                continue  # the embargo was moved meanwhile
            day = campaign.embargo_until.isoformat()
            target = f"campaign:{campaign.slug}"
            if AuditEvent.objects.filter(
                action=EMBARGO_LIFT, target=target, detail__embargo_until=day
            ).exists():
                continue
            audit_record(
                action=EMBARGO_LIFT,
                target=target,
                comment="embargo lifted",
                detail={"embargo_until": day, "paths": list(campaign.data_paths)},
            )
            campaign.save(update_fields=["updated"])
            notifications.embargo_lifted(campaign)
            lifted += 1
        log.info("embargo of campaign %s lifted (%s)", campaign.slug, day)
    return lifted
