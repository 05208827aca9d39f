"""The Rucio pages: the admin's state column and account page, the person's card, the off state."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, SyncRun
from accounts.rucio.sync import rucio_sync
from accounts.services import identity_add

pytestmark = pytest.mark.django_db
ISSUER = "https://iam.example.org/"


def test_pages_say_the_feature_is_off_without_a_rucio_url(client, admin, member, settings):
    settings.GATEHOUSE_RUCIO_URL = ""
    client.force_login(admin)
    assert "Rucio provisioning is off" in client.get(reverse("rucio_sync_runs")).text
    page = client.get(reverse("rucio_account", args=[member.name])).text
    assert "Rucio provisioning is off" in page
    listing = client.get(reverse("admin:accounts_account_changelist")).text
    assert "<th" in listing and "Rucio" in listing and ">off<" in listing
    client.force_login(member)
    assert "does not set up Rucio accounts" in client.get(reverse("account")).text


def test_admin_sees_pending_then_in_sync_and_the_person_sees_their_identities(
    client, admin, member, rucio
):
    identity_add(actor=None, account=member, type="OIDC", identity=f"SUB=m-1, ISS={ISSUER}")
    client.force_login(admin)
    page = client.get(reverse("rucio_account", args=[member.name])).text
    assert "Pending" in page and "not yet provisioned" in page

    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS

    page = client.get(reverse("rucio_account", args=[member.name])).text
    assert "In sync" in page and f"SUB=m-1, ISS={ISSUER}" in page
    listing = client.get(reverse("admin:accounts_account_changelist")).text
    assert reverse("rucio_account", args=[member.name]) in listing and "in sync" in listing
    client.force_login(member)
    card = client.get(reverse("account")).text
    assert "You can use the Rucio client" in card and f"SUB=m-1, ISS={ISSUER}" in card


def test_a_change_after_the_sync_shows_as_a_difference(client, admin, member, rucio):
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    identity_add(actor=None, account=member, type="X509", identity="/C=DE/O=Example/CN=Member")
    client.force_login(admin)
    page = client.get(reverse("rucio_account", args=[member.name])).text
    assert "Differs" in page
    assert "identity not yet in Rucio: X509 /C=DE/O=Example/CN=Member" in page


def test_sync_now_is_a_post_for_admins_that_queues_and_audits(client, admin, member, rucio):
    client.force_login(admin)
    answer = client.post(reverse("rucio_account_sync", args=[member.name]))
    assert answer.status_code == 302
    assert AuditEvent.objects.filter(action="rucio.sync.request", account=member).exists()
    client.force_login(member)
    assert client.post(reverse("rucio_account_sync", args=[member.name])).status_code == 403


def test_history_lists_rucio_runs_only(client, admin, rucio):
    rucio_sync()
    SyncRun.objects.create(idp="other-idp")
    client.force_login(admin)
    page = client.get(reverse("rucio_sync_runs")).text
    assert "requests" in page and "other-idp" not in page


def test_the_two_sync_pages_link_to_each_other(client, admin):
    client.force_login(admin)
    scim, rucio = reverse("scim_sync_runs"), reverse("rucio_sync_runs")
    assert f'href="{rucio}"' in client.get(scim).text
    assert f'href="{scim}"' in client.get(rucio).text
