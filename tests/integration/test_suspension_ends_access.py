"""Issue 11 case 6: a suspension (admin, command or SCIM) drops the account's refresh tokens
and ends its sessions, and the token lifecycle refreshes only ACTIVE accounts' tokens."""

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import crypto
from accounts.idps import get_provider
from accounts.models import Account, AuditEvent
from accounts.scim.apply import plan_apply
from accounts.scim.plan import AccountChange, Plan
from tokens.models import Token
from tokens.services import tokens_due_for_refresh, tokens_refresh

pytestmark = pytest.mark.django_db


def refreshing_token(account: Account, n: int = 0) -> Token:
    now = timezone.now()
    access = f"eyJhbGciOiJSUzI1NiJ9.e30.access-{account.pk}-{n}"
    return Token.objects.create(
        account=account,
        idp="nowhere",  # no such provider: a refresh attempt would count as unreachable
        token_hash=crypto.token_hash(access),
        token=access,
        expires_at=now + timedelta(minutes=1),
        refresh_token=f"refresh-{account.pk}-{n}",
        refresh=True,
        refresh_start=now,
        refresh_lifetime=timedelta(days=4),
    )


def signed_in(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    assert client.get(reverse("account")).status_code == 200
    return client


def assert_cut_off(account: Account, client: Client, bystander_client: Client) -> None:
    assert not Token.objects.filter(account=account, refresh=True).exists()
    assert not Token.objects.filter(account=account).exclude(refresh_token="").exists()
    assert all("suspended" in t.refresh_error for t in Token.objects.filter(account=account))
    assert AuditEvent.objects.filter(action="token.refresh.stop", account=account).exists()
    response = client.get(reverse("account"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert bystander_client.get(reverse("account")).status_code == 200
    assert Token.objects.filter(refresh=True).exclude(account=account).exists()


@pytest.fixture
def cast(member, outsider):
    for account in (member, outsider):
        refreshing_token(account, 0)
        refreshing_token(account, 1)
    return signed_in(member), signed_in(outsider)


def test_suspension_by_command(member, outsider, cast):
    call_command("account", "suspend", "member", "--reason", "left the collaboration")
    assert_cut_off(member, *cast)


def test_suspension_in_the_admin(admin, member, cast):
    staff = Client()
    staff.force_login(admin)
    response = staff.post(
        reverse("admin:accounts_account_changelist"),
        {
            "action": "suspend_accounts",
            helpers.ACTION_CHECKBOX_NAME: [member.pk],
            "apply": "1",
            "reason": "policy",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    member.refresh_from_db()
    assert member.status == Account.Status.SUSPENDED
    assert_cut_off(member, *cast)


def test_suspension_by_the_scim_sync(member, cast, settings, rogue_idp):
    plan = Plan(provider=get_provider("rogue"), now=timezone.now())
    plan.changes.append(AccountChange(account_id=member.pk, name=member.name, suspend="gone"))
    plan_apply(plan)
    member.refresh_from_db()
    assert member.status == Account.Status.SUSPENDED
    assert_cut_off(member, *cast)


def test_the_lifecycle_refreshes_only_active_accounts(member, outsider):
    """Even a suspension written without the service (old data, a direct UPDATE)."""
    refreshing_token(member)
    Account.objects.filter(pk=member.pk).update(status=Account.Status.SUSPENDED)
    assert not tokens_due_for_refresh(within=timedelta(minutes=6)).exists()
    report = tokens_refresh(within=timedelta(minutes=6))
    assert report.refreshed == report.unreachable == 0  # the provider was never asked
    refreshing_token(outsider)
    assert tokens_refresh(within=timedelta(minutes=6)).unreachable == 1
