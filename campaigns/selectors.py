"""Reads for campaigns and memberships."""

from django.db.models import QuerySet

from accounts.models import Account
from campaigns.models import Membership


def memberships_for_account(*, account: Account) -> QuerySet[Membership]:
    """The account's open memberships (requested or approved), with their campaigns."""
    return (
        Membership.objects.filter(account=account, state__in=Membership.OPEN_STATES)
        .select_related("campaign", "campaign__pi")
        .order_by("campaign__slug")
    )
