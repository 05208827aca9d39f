"""The one mail path: render now, queue a Celery task after commit, deliver in the worker.

Nothing is sent inside a web request, and nothing is sent for a change that was rolled back.
A mail server that is down delays the mail (the task retries); it never undoes the change.
"""

import logging
import smtplib
from functools import partial

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.log import AdminEmailHandler
from kombu.exceptions import OperationalError as BrokerUnavailable

log = logging.getLogger(__name__)


BCC_BATCH = 100  # recipients per message: mail servers limit them


def mail_send(*, template: str, recipients: list[str], context: dict, bcc: bool = False) -> None:
    """Render `<template>_subject.txt`, `.txt` and `.html` now; deliver after the commit.

    `template` is a path without suffix, e.g. "campaigns/email/decision". Recipients without
    an address are dropped; each address gets the mail once. With `bcc`, recipients do not see
    each other (announcements to a whole campaign), in batches of BCC_BATCH.
    """
    to = sorted({address for address in recipients if address})
    if not to:
        log.info("no email address for %s; nothing sent", template)
        return
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    delivery = partial(
        _deliver_after_commit,
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        html=render_to_string(f"{template}.html", context),
        template=template,
    )
    if not bcc:
        transaction.on_commit(partial(delivery, to=to), robust=True)
        return
    for start in range(0, len(to), BCC_BATCH):
        transaction.on_commit(
            partial(delivery, to=[], bcc=to[start : start + BCC_BATCH]), robust=True
        )


def _deliver_after_commit(**mail) -> None:
    """Queue the delivery; with the broker away, send it now rather than lose it."""
    try:
        mail_deliver.apply_async(kwargs=mail)
        return
    except BrokerUnavailable as exc:
        log.warning(
            "mail %s: the broker is unreachable (%s); sending it now", mail["template"], exc
        )
    try:
        mail_deliver(**mail)
    except Exception as exc:  # the change is committed; a lost mail must not turn it into a 500
        log.error("mail %s could not be queued nor sent: %s", mail.get("template"), exc)


@shared_task(
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=30,
    max_retries=8,
    ignore_result=True,
)
def mail_deliver(
    *,
    subject: str,
    body: str,
    html: str,
    to: list[str],
    template: str,
    from_email: str = "",
    bcc: list[str] | None = None,
) -> None:
    """Send one rendered mail (thin: the rendering happened where the change was made)."""
    message = EmailMultiAlternatives(
        subject, body, from_email or settings.DEFAULT_FROM_EMAIL, to, bcc=bcc or []
    )
    if html:
        message.attach_alternative(html, "text/html")
    message.send()
    log.info("mail %s sent to %d address(es)", template, len(to) + len(bcc or []))


class AdminMailHandler(AdminEmailHandler):
    """Django's error reports to ADMINS, queued for the worker like every other mail.

    Never sent by the failing request itself, and not tied to its transaction (which may be
    rolling back: the report must still go out).
    """

    def send_mail(self, subject, message, *args, **kwargs):
        to = [admin if isinstance(admin, str) else admin[1] for admin in settings.ADMINS]
        if not to:
            return
        try:
            mail_deliver.delay(
                subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
                body=message,
                html=kwargs.get("html_message") or "",
                to=to,
                template="error report",
                from_email=settings.SERVER_EMAIL,
            )
        except Exception as exc:  # a broker that is down must not hide the error reported
            log.warning("error report not queued: %s", type(exc).__name__)
