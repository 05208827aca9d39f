"""The Django admin for campaigns (through the services) and the demo data command."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Account, AuditEvent, Identity
from campaigns.models import Campaign, Membership
from tests.integration.campaigns.conftest import open_membership, today

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["outsider", "pi", "manager"])
def test_admin_pages_are_for_admins_only(role, as_role, campaign):
    response = as_role(role).get(reverse("admin:campaigns_campaign_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_lists_campaigns_and_memberships(as_role, campaign):
    client = as_role("admin")
    page = client.get(reverse("admin:campaigns_campaign_changelist"), {"embargo": "under"})
    assert page.status_code == 200 and b"nightsky" in page.content
    page = client.get(reverse("admin:campaigns_membership_changelist"), {"state": "requested"})
    assert page.status_code == 200 and b"requester" in page.content
    assert (
        b"nightsky"
        in client.get(reverse("admin:campaigns_campaign_changelist"), {"q": "sky"}).content
    )


def test_admin_creates_a_campaign_through_the_service(as_role, admin, outsider):
    response = as_role("admin").post(
        reverse("admin:campaigns_campaign_add"),
        {
            "slug": "deepfield",
            "title": "Deep field",
            "description": "",
            "pi": outsider.pk,
            "embargo_until": "",
            "data_paths": "/data/deepfield\r\n/tape/deepfield\r\n",  # one per line, not JSON
            "comment": "new in 2026",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    campaign = Campaign.objects.get(slug="deepfield")
    assert campaign.gid >= settings.GATEHOUSE_GID_MIN
    assert campaign.data_paths == ["/data/deepfield", "/tape/deepfield"]
    assert open_membership(campaign, outsider).role == "pi"
    event = AuditEvent.objects.get(action="campaign.create", target="campaign:deepfield")
    assert event.actor == admin and event.comment == "new in 2026"


def test_admin_campaign_form_shows_paths_one_per_line_and_the_pi_by_name(as_role, campaign):
    client = as_role("admin")
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    html = page.content.decode()
    assert "\n".join(campaign.data_paths) in html and "[&quot;" not in html
    assert ">PI<" in html or ">PI:<" in html
    listing = client.get(reverse("admin:campaigns_campaign_changelist")).content.decode()
    assert f"{campaign.pi.get_full_name()} ({campaign.pi.name})" in listing
    refused = client.post(
        reverse("admin:campaigns_campaign_add"),
        {"slug": "x1", "title": "X", "pi": campaign.pi.pk, "data_paths": "data/relative"},
    )
    assert refused.status_code == 200 and b"errorlist" in refused.content


def test_admin_assigns_a_new_pi_and_archives(as_role, admin, member, campaign):
    client = as_role("admin")
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    response = client.post(
        url,
        {
            "title": campaign.title,
            "description": campaign.description,
            "pi": member.pk,
            "embargo_until": campaign.embargo_until.isoformat(),
            "data_paths": "\n".join(campaign.data_paths),
            "comment": "handover",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    campaign.refresh_from_db()
    assert campaign.pi == member and open_membership(campaign, member).role == "pi"
    assert AuditEvent.objects.filter(action="campaign.set_pi", comment="handover").exists()
    response = client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "archive_selected", "_selected_action": [campaign.pk]},
    )
    campaign.refresh_from_db()
    assert campaign.status == "archived"


def test_admin_membership_actions_call_the_services(as_role, requester, member, campaign):
    client = as_role("admin")
    url = reverse("admin:campaigns_membership_changelist")
    waiting = open_membership(campaign, requester)
    client.post(url, {"action": "approve_selected", "_selected_action": [waiting.pk]})
    waiting.refresh_from_db()
    assert waiting.state == "approved"
    approved = open_membership(campaign, member)
    client.post(url, {"action": "revoke_selected", "_selected_action": [approved.pk]})
    approved.refresh_from_db()
    assert approved.state == "revoked"
    assert AuditEvent.objects.filter(action="membership.revoke", comment="revoked in admin")


def test_seed_demo_matches_the_dev_idp_and_is_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    counts = (Account.objects.count(), Campaign.objects.count(), Membership.objects.count())
    call_command("seed_demo", stdout=io.StringIO())
    assert counts == (
        Account.objects.count(),
        Campaign.objects.count(),
        Membership.objects.count(),
    )
    assert set(Account.objects.values_list("name", flat=True)) >= {"alice", "bob", "carol", "dave"}
    assert list(Account.objects.filter(is_superuser=True).values_list("name", flat=True)) == ["ada"]
    demo = json.loads((settings.BASE_DIR / "devidp" / "demo.json").read_text())
    for user in demo["users"]:
        identity = Identity.objects.get(identity=f"SUB={user['sub']}, ISS={demo['issuer']}")
        assert identity.account.name == user["username"] and identity.type == "OIDC"
    campaigns = {c.slug: c for c in Campaign.objects.all()}
    assert len(campaigns) == 4
    assert campaigns["nightsky-2025"].embargo_until.year == today().year + 1
    assert not campaigns["solar-2023"].is_under_embargo()
    assert all(c.description for c in campaigns.values())
    states = set(Membership.objects.values_list("state", flat=True))
    assert {"approved", "requested", "rejected", "withdrawn"} <= states


def test_linking_an_idp_group_in_the_admin_is_audited(as_role, admin, campaign):
    from accounts.models import IdpGroup

    group = IdpGroup.objects.create(idp="wlcg", scim_id="g-1", name="nightsky-team")
    client = as_role("admin")
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    form = {
        "title": campaign.title,
        "description": campaign.description,
        "pi": campaign.pi.pk,
        "embargo_until": campaign.embargo_until.isoformat(),
        "data_paths": "\n".join(campaign.data_paths),  # one path per line
        "comment": "team from IAM",
    }
    assert client.post(url, {**form, "idp_group": group.pk}).status_code == 302
    assert client.post(url, {**form, "idp_group": ""}).status_code == 302
    campaign.refresh_from_db()
    assert campaign.idp_group is None
    events = AuditEvent.objects.filter(action="campaign.set_idp_group").order_by("created", "pk")
    assert [(e.actor, e.comment, e.detail) for e in events] == [
        (admin, "team from IAM", {"from": None, "to": "wlcg:nightsky-team"}),
        (admin, "team from IAM", {"from": "wlcg:nightsky-team", "to": None}),
    ]
