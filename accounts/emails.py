"""Emails to people about their accounts (Django mail; templates in templates/accounts/email/)."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.idps import get_provider
from accounts.models import Account, Registration

log = logging.getLogger(__name__)


def _send(*, template: str, to: str | list[str], context: dict) -> None:
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    recipients = [to] if isinstance(to, str) else to
    message = EmailMultiAlternatives(
        subject, render_to_string(f"{template}.txt", context), None, recipients
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    try:
        message.send()
    except (OSError, smtplib.SMTPException) as exc:
        # The decision stands; the person sees it on their next login.
        log.warning("could not send %s to a user: %s", template, type(exc).__name__)


def registration_decision_email(*, registration_id: int) -> None:
    """Tell the person whether their registration was approved or rejected."""
    registration = Registration.objects.select_related("account").get(pk=registration_id)
    if not registration.email or registration.state == Registration.State.PENDING:
        return
    template = f"accounts/email/registration_{registration.state}"
    _send(
        template=template,
        to=registration.email,
        context={
            "registration": registration,
            "login_url": settings.SITE_URL + reverse("login"),
        },
    )


def registration_waiting_email(*, registration_id: int) -> None:
    """Tell the data-centre admins that someone registered and waits for a decision."""
    registration = Registration.objects.get(pk=registration_id)
    admins = sorted(
        set(
            Account.objects.filter(status=Account.Status.ACTIVE, is_staff=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not admins or registration.state != Registration.State.PENDING:
        return
    _send(
        template="accounts/email/registration_waiting",
        to=admins,
        context={
            "registration": registration,
            "provider": provider.label if (provider := get_provider(registration.idp)) else "",
            "registrations_url": settings.SITE_URL + reverse("registrations"),
        },
    )
