"""New campaigns: a scientist asks in the portal, an admin approves (the requester becomes PI)
or rejects with a reason; admins can also create one directly. Who may, and who may not."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import AuditEvent
from campaigns import services
from campaigns.models import Campaign, CampaignRequest
from tests.integration.campaigns.conftest import days, open_membership

pytestmark = pytest.mark.django_db

ASK = {
    "title": "Deep Field 2027",
    "slug": "deepfield-2027",
    "description": "Ultra-deep imaging of one field.",
    "embargo_until": "",
    "data_paths": "/data/deepfield-2027\r\n/tape/deepfield-2027\r\n",
    "reason": "Approved proposal 2027-114; four people will join.",
}


def test_a_scientist_asks_and_the_admins_are_mailed(
    client, admin, outsider, django_capture_on_commit_callbacks
):
    client.force_login(outsider)
    assert "Why is it needed?" in client.get(reverse("campaigns:new")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("campaigns:new"), ASK)
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:mine")
    asked = CampaignRequest.objects.get()
    assert (asked.requester, asked.state, asked.slug) == (outsider, "pending", "deepfield-2027")
    assert asked.data_paths == ["/data/deepfield-2027", "/tape/deepfield-2027"]
    assert not Campaign.objects.filter(slug="deepfield-2027").exists()
    (message,) = mail.outbox
    assert message.to == ["admin@example.org"]
    assert "outsider asks for a new campaign deepfield-2027" in message.subject
    assert "Approved proposal 2027-114" in message.body and "/campaigns/requests/" in message.body
    mine = client.get(reverse("campaigns:mine")).content.decode()
    assert "New campaigns you asked for" in mine and "waiting for approval" in mine


def test_approval_creates_the_campaign_with_the_requester_as_pi(
    client, admin, outsider, django_capture_on_commit_callbacks
):
    asked = services.campaign_request_create(
        requester=outsider, slug="deepfield", title="Deep", reason="Survey.", embargo_until=days(90)
    )
    client.force_login(admin)
    page = client.get(reverse("campaigns:requests")).content.decode()
    assert "Approve and create deepfield" in page and "Survey." in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("campaigns:campaign_request_approve", args=[asked.pk]))
    campaign = Campaign.objects.get(slug="deepfield")
    assert campaign.pi == outsider and campaign.embargo_until == days(90)
    assert open_membership(campaign, outsider).role == "pi"
    asked.refresh_from_db()
    assert (asked.state, asked.decided_by, asked.campaign) == ("approved", admin, campaign)
    assert AuditEvent.objects.filter(action="campaign_request.approve", actor=admin).exists()
    assert mail.outbox[-1].to == ["outsider@example.org"]
    assert "Your campaign deepfield is ready" in mail.outbox[-1].subject
    with pytest.raises(ValidationError, match="already approved"):
        services.campaign_request_approve(request=asked, actor=admin)


def test_rejection_needs_a_reason_and_tells_the_requester(
    client, admin, outsider, django_capture_on_commit_callbacks
):
    asked = services.campaign_request_create(
        requester=outsider, slug="deepfield", title="Deep", reason="Survey."
    )
    client.force_login(admin)
    client.post(reverse("campaigns:campaign_request_reject", args=[asked.pk]), {"reason": ""})
    asked.refresh_from_db()
    assert asked.state == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("campaigns:campaign_request_reject", args=[asked.pk]),
            {"reason": "Use the existing deep-survey campaign."},
        )
    asked.refresh_from_db()
    assert (asked.state, asked.decision_reason) == (
        "rejected",
        "Use the existing deep-survey campaign.",
    )
    assert not Campaign.objects.filter(slug="deepfield").exists()
    assert "Use the existing deep-survey campaign." in mail.outbox[-1].body
    assert "was rejected" in mail.outbox[-1].subject


def test_only_admins_decide(client, pi, member, outsider):
    asked = services.campaign_request_create(
        requester=outsider, slug="deepfield", title="Deep", reason="Survey."
    )
    for person in (pi, member, outsider):
        client.force_login(person)
        assert client.get(reverse("campaigns:requests")).status_code == 403
        url = reverse("campaigns:campaign_request_approve", args=[asked.pk])
        assert client.post(url).status_code == 403
        with pytest.raises(PermissionDenied):
            services.campaign_request_approve(request=asked, actor=person)
    asked.refresh_from_db()
    assert asked.state == "pending"


def test_an_admin_creates_a_campaign_directly_naming_its_pi(client, admin, member):
    client.force_login(admin)
    form = client.get(reverse("campaigns:new")).content.decode()
    assert "PI (account name)" in form and "Why is it needed?" not in form
    data = {k: v for k, v in ASK.items() if k != "reason"} | {"pi": "member"}
    response = client.post(reverse("campaigns:new"), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get(slug="deepfield-2027")
    assert campaign.pi == member and not CampaignRequest.objects.exists()
    nobody = client.post(reverse("campaigns:new"), data | {"slug": "other", "pi": "nobody"})
    assert "There is no account" in nobody.content.decode()


def test_names_that_are_taken_or_reserved_are_refused_with_a_sentence(client, outsider, campaign):
    client.force_login(outsider)
    for slug, says in [
        (campaign.slug, "exists: choose another name"),
        ("new", "reserved for a page of the portal"),
        ("Bad Name", "Use a POSIX group name"),
    ]:
        body = client.post(reverse("campaigns:new"), ASK | {"slug": slug}).content.decode()
        assert says in body, slug
    services.campaign_request_create(requester=outsider, slug="dup", title="D", reason="R")
    body = client.post(reverse("campaigns:new"), ASK | {"slug": "dup"}).content.decode()
    assert "Someone already asked for a campaign named" in body
    refused = client.post(reverse("campaigns:new"), ASK | {"data_paths": "relative/path"})
    assert refused.status_code == 200 and CampaignRequest.objects.count() == 1
