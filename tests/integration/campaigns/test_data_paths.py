"""Issue 11 case 1: data paths are unique across campaigns, whoever sets them.

A PI could claim another campaign's path and so decide who reads its embargoed data.
"""

import threading
import time
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from campaigns import services
from campaigns.models import Campaign
from campaigns.selectors import data_path_clash, path_access


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
        "data_paths": "/data/deepfield\n/tape/nightsky",  # one path per line
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
        {**data, "slug": "deeper", "data_paths": "/data/nightsky/x", "move_data_paths": "on"},
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


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_claims_cannot_both_win(monkeypatch, pi, outsider):
    """Two threads (two database connections) claim nested paths for two campaigns; each
    pauses between its uniqueness check and its commit, where a race would slip through."""
    from campaigns.services import campaign as campaign_module

    left = services.campaign_create(slug="left", title="Left", pi=pi, actor=None)
    right = services.campaign_create(slug="right", title="Right", pi=outsider, actor=None)
    checked = campaign_module.data_path_conflicts

    def slow_check(paths, *, exclude=None):
        found = checked(paths, exclude=exclude)
        time.sleep(1.0)  # the other claim runs its check now, unless the lock holds it
        return found

    monkeypatch.setattr(campaign_module, "data_path_conflicts", slow_check)
    outcomes: dict[str, str] = {}

    def claim(campaign, path):
        try:
            services.campaign_update_data_paths(campaign=campaign, data_paths=[path], actor=None)
            outcomes[campaign.slug] = "won"
        except ValidationError:
            outcomes[campaign.slug] = "refused"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=claim, args=(left, "/data/shared")),
        threading.Thread(target=claim, args=(right, "/data/shared/inner")),
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["refused", "won"], outcomes
    paths = [c.data_paths for c in Campaign.objects.filter(slug__in=["left", "right"])]
    assert sorted(paths) == sorted([[], ["/data/shared"]]), paths
