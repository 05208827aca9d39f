"""The campaign cast: `campaign` is led by `pi`, with `manager` appointed, `member` approved,
`requester` waiting; `outsider` has nothing to do with it; `admin` is a data-centre admin."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.models import Membership

ROLES = ["anonymous", "outsider", "requester", "member", "manager", "pi", "admin"]


def today() -> datetime.date:
    return timezone.localdate()


def days(n: int) -> datetime.date:
    return today() + datetime.timedelta(days=n)


@pytest.fixture
def campaign(admin, pi, manager, member, requester):
    campaign = services.campaign_create(
        slug="nightsky",
        title="Night Sky Survey",
        description="Wide-field imaging.",
        pi=pi,
        actor=admin,
        embargo_until=days(365),
        data_paths=["/data/nightsky", "/tape/nightsky"],
    )
    for account in (manager, member):
        request = services.membership_request(campaign=campaign, account=account)
        services.membership_approve(membership=request, actor=pi)
    services.manager_appoint(campaign=campaign, account=manager, actor=pi)
    services.membership_request(campaign=campaign, account=requester, message="Please let me in.")
    campaign.refresh_from_db()
    return campaign


def open_membership(campaign, account) -> Membership:
    return Membership.objects.get(
        campaign=campaign, account=account, state__in=Membership.OPEN_STATES
    )


@pytest.fixture
def as_role(request, admin, pi, manager, member, requester, outsider):
    """as_role("member") -> a test client logged in as that person (anonymous: not logged in)."""
    people = {
        "admin": admin,
        "pi": pi,
        "manager": manager,
        "member": member,
        "requester": requester,
        "outsider": outsider,
    }

    def client_for(role: str) -> Client:
        client = Client()
        if role != "anonymous":
            client.force_login(people[role])
        return client

    client_for.people = people
    return client_for
