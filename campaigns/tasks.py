"""Thin Celery tasks: each calls one service; retried when the database is briefly away."""

from datetime import timedelta

from celery import shared_task

from accounts.jobs import SCHEDULED_TASK, scheduled_run_claim
from campaigns import services


@shared_task(**SCHEDULED_TASK)
def memberships_expire(beat: bool = False) -> int:
    if beat and not scheduled_run_claim(job="memberships-expire", every=timedelta(hours=1)):
        return 0
    return services.memberships_expire()


@shared_task(**SCHEDULED_TASK)
def membership_reminders_send(beat: bool = False) -> int:
    if beat and not scheduled_run_claim(job="membership-reminders", every=timedelta(days=1)):
        return 0
    return services.membership_reminders_send()


@shared_task(**SCHEDULED_TASK)
def embargoes_lift(beat: bool = False) -> int:
    if beat and not scheduled_run_claim(job="embargoes-lift", every=timedelta(hours=1)):
        return 0
    return services.embargoes_lift()
