"""The permission plan (campaigns.permissions) and its export: the format, the settings, the
HTTP endpoint with ETag/304 and ?campaign=, the command, and what moves the ETag."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import Account
from campaigns import services
from campaigns.exports import ExportError, ExportReport, render
from campaigns.exports.fingerprint import export_etag
from campaigns.models import Campaign
from campaigns.permissions import PlanState, permission_plan
from campaigns.services import node_token_create
from tests.integration.permissions.conftest import days

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(db) -> str:
    return node_token_create(name="dcache-door-1")[1]


@pytest.fixture
def campaigns(admin, pi, manager, member, settings):
    settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = 0
    embargoed = services.campaign_create(
        slug="nightsky", title="Night Sky", pi=pi, actor=admin, embargo_until=days(30),
        data_paths=["/data/nightsky", "/tape/nightsky"],
    )  # fmt: skip
    asked = services.membership_request(campaign=embargoed, account=manager)
    services.membership_approve(membership=asked, actor=pi)
    services.manager_appoint(campaign=embargoed, account=manager, actor=pi)
    public = services.campaign_create(
        slug="solar", title="Solar", pi=member, actor=admin, embargo_until=days(-3),
        data_paths=["/data/solar"],
    )  # fmt: skip
    archived = services.campaign_create(
        slug="old", title="Old", pi=pi, actor=admin, embargo_until=days(10),
        data_paths=["/data/old"],
    )  # fmt: skip
    services.campaign_archive(campaign=archived, actor=admin)
    services.campaign_create(slug="nodata", title="No data", pi=pi, actor=admin)
    return embargoed, public, archived


def text(**kwargs) -> str:
    return "".join(render("permissions", ExportReport(), **kwargs))


def test_one_line_per_path_in_the_documented_format(campaigns, pi, member):
    embargoed, public, archived = campaigns
    lines = text().splitlines()
    assert lines[:2] == [
        "# gatehouse-permissions 1",
        "# path uid gid file_mode dir_mode campaign embargo_until state writers",
    ]
    assert lines[2:] == [
        f"/data/nightsky {pi.uid} {embargoed.gid} 0640 2750 nightsky {days(30)} embargo -",
        f"/data/old {pi.uid} {archived.gid} 0640 2750 old {days(10)} archived -",
        f"/data/solar {member.uid} {public.gid} 0644 2755 solar {days(-3)} public -",
        f"/tape/nightsky {pi.uid} {embargoed.gid} 0640 2750 nightsky {days(30)} embargo -",
    ]


def test_modes_are_settings_and_archived_campaigns_lose_group_write(campaigns, settings):
    settings.GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE = 0o660
    settings.GATEHOUSE_PERMISSIONS_EMBARGO_DIR_MODE = 0o2770
    plans = {p.path: p for p in permission_plan()}
    assert (plans["/data/nightsky"].file_mode, plans["/data/nightsky"].dir_mode) == (0o660, 0o2770)
    assert plans["/data/old"].state == PlanState.ARCHIVED
    assert (plans["/data/old"].file_mode, plans["/data/old"].dir_mode) == (0o640, 0o2750)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE", 0o644),  # others could read embargoed data
        ("GATEHOUSE_PERMISSIONS_PUBLIC_FILE_MODE", 0o4755),  # setuid
        ("GATEHOUSE_PERMISSIONS_PUBLIC_DIR_MODE", 0o12755),
    ],
)
def test_bad_mode_settings_stop_the_export_before_the_first_line(
    campaigns, settings, setting, value
):
    setattr(settings, setting, value)
    with pytest.raises(ExportError, match="GATEHOUSE_PERMISSIONS_"):
        render("permissions", ExportReport())


def test_upload_writers_are_the_pi_and_current_managers_when_enabled(
    campaigns, settings, pi, manager
):
    settings.GATEHOUSE_PERMISSIONS_UPLOAD_WRITE = True
    line = next(row for row in text().splitlines() if row.startswith("/data/nightsky "))
    assert line.endswith(" " + ",".join(str(u) for u in sorted((pi.uid, manager.uid))))


def test_paths_a_shell_would_split_and_pis_without_uid_are_left_out_and_reported(campaigns, pi):
    embargoed, _, _ = campaigns
    Campaign.objects.filter(pk=embargoed.pk).update(
        data_paths=["/data/night sky", "/data/ok", "/data/new\nline"]
    )
    report = ExportReport()
    body = "".join(render("permissions", report))
    assert "/data/ok " in body and "night sky" not in body and "new" not in body
    assert sum(report.skipped.values()) == 2
    Account.objects.filter(pk=pi.pk).update(uid=None)
    assert "/data/ok" not in text()


def test_http_needs_a_node_token_and_answers_304_for_an_unchanged_plan(client, campaigns, secret):
    assert client.get("/exports/permissions").status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = client.get("/exports/permissions", **auth)
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    assert body == text()
    etag = response["ETag"]
    again = client.get("/exports/permissions", HTTP_IF_NONE_MATCH=etag, **auth)
    assert again.status_code == 304


def test_ingest_asks_for_one_campaign(client, campaigns, secret, pi):
    embargoed, _, _ = campaigns
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    response = client.get("/exports/permissions?campaign=nightsky", **auth)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [row.split(" ")[0] for row in lines[2:]] == ["/data/nightsky", "/tape/nightsky"]
    assert response["ETag"] != client.get("/exports/permissions", **auth)["ETag"]
    unknown = client.get("/exports/permissions?campaign=nosuch", **auth)
    assert b"".join(unknown.streaming_content).decode().count("\n") == 2  # header only
    for bad in ("/exports/permissions?campaign=Bad%0A", "/exports/group?campaign=nightsky"):
        refused = client.get(bad, **auth)
        assert refused.status_code == 400
        assert "Only the permissions export takes ?campaign=" in refused.content.decode()


def test_the_etag_moves_when_the_embargo_ends_and_when_the_pi_changes(
    client, campaigns, secret, admin, member
):
    embargoed, _, _ = campaigns
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    first = client.get("/exports/permissions", **auth)["ETag"]
    services.campaign_update_embargo(campaign=embargoed, embargo_until=days(0), actor=admin)
    lifted = client.get("/exports/permissions", HTTP_IF_NONE_MATCH=first, **auth)
    assert lifted.status_code == 200
    assert "/data/nightsky " in b"".join(lifted.streaming_content).decode()
    services.campaign_set_pi(campaign=embargoed, pi=member, actor=admin)
    moved = client.get("/exports/permissions", HTTP_IF_NONE_MATCH=lifted["ETag"], **auth)
    assert moved.status_code == 200
    body = b"".join(moved.streaming_content).decode()
    assert f"/data/nightsky {member.uid} {embargoed.gid} 0644 2755 " in body


def test_the_etag_holds_today_so_a_passing_embargo_moves_it(campaigns, monkeypatch):
    today = export_etag("permissions")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: tomorrow)
    assert export_etag("permissions") != today


def test_the_command_writes_the_plan_and_narrows_to_one_campaign(campaigns, tmp_path):
    out = io.StringIO()
    call_command("export_mappings", "--format", "permissions", "--campaign", "solar", stdout=out)
    assert [row.split(" ")[5] for row in out.getvalue().splitlines()[2:]] == ["solar"]
    target = tmp_path / "permissions.txt"
    call_command("export_mappings", "--format", "permissions", "--output", str(target), stdout=out)
    assert target.read_text() == text()
    with pytest.raises(CommandError, match="cannot be narrowed"):
        call_command("export_mappings", "--format", "group", "--campaign", "solar", stdout=out)
