"""Thin Celery tasks: each calls one service; retried when the database is briefly away."""

from celery import shared_task
from django.db import OperationalError

from campaigns import services

RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**RETRY)
def memberships_expire() -> int:
    return services.memberships_expire()


@shared_task(**RETRY)
def membership_reminders_send() -> int:
    return services.membership_reminders_send()


@shared_task(**RETRY)
def embargoes_lift() -> int:
    return services.embargoes_lift()
