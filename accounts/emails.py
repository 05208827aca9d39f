"""Emails to people about their accounts (templates in templates/accounts/email/)."""

from django.conf import settings
from django.urls import reverse

from accounts.mail import mail_send
from accounts.models import Registration


def registration_decision_email(*, registration: Registration) -> None:
    """Tell the person whether their registration was approved or rejected (after commit)."""
    if not registration.email or registration.state == Registration.State.PENDING:
        return
    mail_send(
        template=f"accounts/email/registration_{registration.state}",
        recipients=[registration.email],
        context={
            "registration": registration,
            "login_url": settings.SITE_URL + reverse("login"),
        },
    )
