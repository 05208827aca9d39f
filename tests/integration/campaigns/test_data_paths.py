"""Issue 11 case 1: data paths are unique across campaigns, whoever sets them.

A PI could claim another campaign's path and so decide who reads its embargoed data.
"""

import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AuditEvent
from campaigns import services
from campaigns.models import Campaign
from campaigns.selectors import data_path_clash, path_access

from .test_concurrency import database_url

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def calibration(admin, outsider):
    return services.campaign_create(
        slug="calibration", title="Calibration", pi=outsider, actor=admin, data_paths=["/data/cal"]
    )


@pytest.mark.parametrize(
    "mine, theirs, clash",
    [
        ("/data/nightsky", "/data/nightsky/", "is the same path as"),
        ("/data/nightsky/raw", "/data/nightsky", "lies inside"),
        ("/data", "/data/nightsky", "contains"),
        ("/", "/data/nightsky", "contains"),
        ("/data/night", "/data/nightsky", "is a string prefix of"),
        ("/data/nightsky2", "/data/nightsky", "starts with"),
        ("/data/other", "/data/nightsky", ""),
        ("/tape/nightsky", "/data/nightsky", ""),
    ],
)
def test_how_two_paths_clash(mine, theirs, clash):
    assert data_path_clash(mine, theirs) == clash


@pytest.mark.parametrize(
    "path", ["/data/nightsky", "/data/nightsky/raw", "/data", "/data/night", "/tape/nightsky42"]
)
def test_a_pi_cannot_claim_another_campaigns_path(as_role, outsider, campaign, calibration, path):
    """The attack: the PI of calibration adds nightsky's path on the manage page."""
    client = as_role("outsider")
    url = reverse("campaigns:settings", args=["calibration"])
    response = client.post(
        url, {"embargo_until": "", "data_paths": f"/data/cal\n{path}"}, follow=True
    )
    calibration.refresh_from_db()
    assert calibration.data_paths == ["/data/cal"]
    assert b"a data path of campaign nightsky" in response.content
    assert path_access(path="/data/nightsky/raw/f1").campaign == campaign


def test_service_refuses_for_admins_and_the_system_too(admin, campaign, calibration):
    for actor in (admin, None):
        with pytest.raises(ValidationError, match="campaign nightsky"):
            services.campaign_update_data_paths(
                campaign=calibration, data_paths=["/data/nightsky"], actor=actor
            )
        with pytest.raises(ValidationError, match="campaign nightsky"):
            services.campaign_create(
                slug=f"new{bool(actor)}", title="N", pi=admin, actor=actor, data_paths=["/tape"]
            )
    assert not Campaign.objects.filter(slug__startswith="new").exists()
    # A campaign may keep and rearrange its own paths.
    services.campaign_update_data_paths(
        campaign=campaign, data_paths=["/data/nightsky", "/tape/nightsky/x"], actor=admin
    )


def test_admin_form_refuses_with_a_sentence_and_can_move_a_path(as_role, admin, campaign):
    client = as_role("admin")
    add = reverse("admin:campaigns_campaign_add")
    data = {
        "slug": "deepfield",
        "title": "Deep field",
        "description": "",
        "pi": admin.pk,
        "embargo_until": "",
        "data_paths": '["/data/deepfield", "/tape/nightsky"]',
        "comment": "",
    }
    response = client.post(add, data)
    assert response.status_code == 200
    assert b"a data path of campaign nightsky" in response.content
    assert not Campaign.objects.filter(slug="deepfield").exists()
    response = client.post(add, {**data, "move_data_paths": "on", "comment": "tape moves"})
    assert response.status_code == 302, response.content[:3000]
    campaign.refresh_from_db()
    assert campaign.data_paths == ["/data/nightsky"]
    assert Campaign.objects.get(slug="deepfield").data_paths == [
        "/data/deepfield",
        "/tape/nightsky",
    ]
    event = AuditEvent.objects.get(action="campaign.move_data_path")
    assert event.actor == admin and event.comment == "tape moves"
    assert event.detail == {"path": "/tape/nightsky", "from": "nightsky", "to": "deepfield"}
    # Only an exact path moves; a path inside another campaign's is still refused.
    response = client.post(
        add,
        {**data, "slug": "deeper", "data_paths": '["/data/nightsky/x"]', "move_data_paths": "on"},
    )
    assert response.status_code == 200 and b"lies inside" in response.content


def test_only_an_admin_moves_a_path(pi, admin, campaign, calibration):
    with pytest.raises(PermissionDenied):
        services.campaign_move_data_path(path="/data/cal", to=campaign, actor=pi)
    services.campaign_move_data_path(path="/data/cal", to=campaign, actor=admin)
    calibration.refresh_from_db()
    assert calibration.data_paths == []


def test_seed_and_command_paths_go_through_the_same_rule(admin, campaign):
    with pytest.raises(ValidationError, match="is a string prefix of /data/nightsky"):
        services.campaign_create(
            slug="seeded", title="S", pi=admin, actor=None, data_paths=["/data/night"]
        )


def test_longest_match_decides_on_old_overlapping_data(admin, outsider, member, campaign):
    """Rows from before the rule: a public campaign on the same prefix opens nothing."""
    twin = Campaign.objects.create(
        slug="twin", title="Twin", pi=outsider, gid=99, data_paths=["/data/nightsky"]
    )
    decision = path_access(path="/data/nightsky/raw/f1")
    assert not decision.allowed and decision.campaign == campaign
    assert "nightsky" in decision.explanation and twin in decision.campaigns
    assert path_access(path="/data/nightsky/raw/f1", account=member).allowed
    assert not path_access(path="/data/nightsky/raw/f1", account=outsider).allowed
    # The check command lists it and fails.
    out = StringIO()
    with pytest.raises(CommandError, match="1 overlapping"):
        call_command("check_data_paths", stdout=out)
    assert "nightsky: /data/nightsky is the same path as /data/nightsky (twin)" in out.getvalue()


def test_check_command_lists_string_prefixes_and_passes_when_clean(admin, outsider, campaign):
    out = StringIO()
    call_command("check_data_paths", stdout=out)
    assert "No campaign data paths overlap" in out.getvalue()
    Campaign.objects.create(
        slug="c4", title="C4", pi=outsider, gid=98, data_paths=["/data/nightsky4"]
    )
    with pytest.raises(CommandError):
        call_command("check_data_paths", stdout=out)
    assert "c4: /data/nightsky4 starts with /data/nightsky (nightsky)" in out.getvalue()


def test_who_can_read_on_old_overlap_does_not_show_the_other_campaigns_members(
    as_role, admin, outsider, member, campaign
):
    Campaign.objects.create(
        slug="twin", title="Twin", pi=outsider, gid=99, data_paths=["/data/nightsky"]
    )
    url = reverse("campaigns:who_can_read")
    response = as_role("outsider").get(url, {"path": "/data/nightsky/f", "account": "member"})
    assert b"You may check only your own account" in response.content


SNIPPET = """
import time
from accounts.models import Account
from campaigns.models import Campaign
from campaigns.services import campaign_update_data_paths
from django.core.exceptions import ValidationError
campaign = Campaign.objects.get(slug="{slug}")
while time.time() < {start}:
    time.sleep(0.001)
try:
    campaign_update_data_paths(campaign=campaign, data_paths=["{path}"], actor=None)
    print("WON")
except ValidationError:
    print("REFUSED")
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_cannot_both_win(admin, pi, outsider):
    for slug, who in (("left", pi), ("right", outsider)):
        services.campaign_create(slug=slug, title=slug, pi=who, actor=None)
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(REPO)}
    start = time.time() + 4
    claims = [("left", "/data/shared"), ("right", "/data/shared/inner")] * 2
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c"]
            + [SNIPPET.format(slug=slug, path=path, start=start)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for slug, path in claims
    ]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)[-3000:]
    left = Campaign.objects.get(slug="left").data_paths
    right = Campaign.objects.get(slug="right").data_paths
    assert not (left and right), (left, right, outputs)
    assert sum("WON" in o for o in outputs) >= 1
