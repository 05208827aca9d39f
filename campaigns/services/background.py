"""Background work (beat tasks): expiry and end-of-membership reminders."""

import datetime
import logging

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from campaigns import notifications
from campaigns.models import Membership
from campaigns.services.rules import (
    REMINDER_DAYS,
    State,
    audit_membership,
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
