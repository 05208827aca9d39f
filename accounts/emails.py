"""Emails to people about their accounts (templates in templates/accounts/email/)."""

from django.conf import settings
from django.urls import reverse

from accounts.idps import get_provider
from accounts.mail import mail_send
from accounts.models import Account, Registration


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


def registration_waiting_email(*, registration: Registration) -> None:
    """Tell the data-centre admins that someone registered and waits for a decision."""
    admins = sorted(
        set(
            Account.objects.filter(status=Account.Status.ACTIVE, is_staff=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not admins or registration.state != Registration.State.PENDING:
        return
    mail_send(
        template="accounts/email/registration_waiting",
        recipients=admins,
        context={
            "registration": registration,
            "provider": provider.label if (provider := get_provider(registration.idp)) else "",
            "registrations_url": settings.SITE_URL + reverse("registrations"),
        },
    )
