"""Celery tasks for the token lifecycle: thin wrappers around tokens.services."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from tokens.services import tokens_cleanup, tokens_refresh

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def tokens_refresh_due() -> None:
    """Refresh what would expire before the next cycle (plus a minute of slack)."""
    within = timedelta(minutes=settings.GATEHOUSE_TOKEN_REFRESH_MINUTES + 1)
    report = tokens_refresh(within=within)
    log.info("token refresh: %s", report.as_dict())


@shared_task(ignore_result=True)
def tokens_cleanup_expired() -> None:
    report = tokens_cleanup()
    log.info("token clean-up: %s", report.as_dict())
