"""Celery tasks for the token lifecycle: thin wrappers around tokens.services."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from accounts.jobs import SCHEDULED_TASK, scheduled_run_claim
from tokens.services import tokens_cleanup, tokens_refresh

log = logging.getLogger(__name__)


@shared_task(**SCHEDULED_TASK)
def tokens_refresh_due(beat: bool = False) -> None:
    """Refresh what would expire before the next cycle (plus a minute of slack)."""
    every = timedelta(minutes=settings.GATEHOUSE_TOKEN_REFRESH_MINUTES)
    if beat and not scheduled_run_claim(job="token-refresh", every=every):
        return
    within = timedelta(minutes=settings.GATEHOUSE_TOKEN_REFRESH_MINUTES + 1)
    report = tokens_refresh(within=within)
    log.info("token refresh: %s", report.as_dict())


@shared_task(**SCHEDULED_TASK)
def tokens_cleanup_expired(beat: bool = False) -> None:
    every = timedelta(minutes=settings.GATEHOUSE_TOKEN_CLEANUP_MINUTES)
    if beat and not scheduled_run_claim(job="token-cleanup", every=every):
        return
    report = tokens_cleanup()
    log.info("token clean-up: %s", report.as_dict())
