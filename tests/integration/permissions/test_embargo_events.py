"""When an embargo ends (beat task) or the PI changes: audit event, mail to the PI and the
members, the next export reflects it; the campaign page shows the plan of its paths."""

import threading

import pytest
from django.core import mail
from django.db import connection

from accounts.models import AuditEvent
from campaigns import services, tasks
from campaigns.exports.fingerprint import data_version
from tests.integration.permissions.conftest import days

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightsky(admin, pi, member, manager, requester, settings):
    settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = 0
    campaign = services.campaign_create(
        slug="nightsky", title="Night Sky", pi=pi, actor=admin, embargo_until=days(1),
        data_paths=["/data/nightsky"],
    )  # fmt: skip
    for account in (member, manager):
        asked = services.membership_request(campaign=campaign, account=account)
        services.membership_approve(membership=asked, actor=pi)
    services.membership_request(campaign=campaign, account=requester)  # not a member yet
    return campaign


def lifted_events():
    return AuditEvent.objects.filter(action="campaign.embargo_lift")


def test_the_beat_task_announces_a_lifted_embargo_once(
    nightsky, django_capture_on_commit_callbacks
):
    assert services.embargoes_lift(today=days(0)) == 0  # still under embargo today
    version = data_version()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.embargoes_lift(today=days(1)) == 1
    (event,) = lifted_events()
    assert event.comment == "embargo lifted"
    assert event.target == "campaign:nightsky"
    assert event.detail == {"embargo_until": days(1).isoformat(), "paths": ["/data/nightsky"]}
    (message,) = mail.outbox
    assert message.to == []
    assert sorted(message.bcc) == ["manager@example.org", "member@example.org", "pi@example.org"]
    assert message.subject == "[Gatehouse] The embargo of nightsky has ended: its data is public"
    assert f"ended on {days(1):%Y-%m-%d}" in message.body
    assert data_version() != version  # every export's ETag moves

    with django_capture_on_commit_callbacks(execute=True):
        assert services.embargoes_lift(today=days(2)) == 0  # once per campaign and date
    assert len(mail.outbox) == 1 and lifted_events().count() == 1


def test_an_embargo_that_ended_long_ago_is_not_announced(nightsky):
    assert services.embargoes_lift(today=days(30)) == 0


def test_the_task_is_thin_and_registered(nightsky, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["campaigns-embargoes-lift"]
    assert schedule["task"] == tasks.embargoes_lift.name
    assert tasks.embargoes_lift.run() == 0  # today the embargo still holds


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_announce_it_once(admin, pi, member):
    services.campaign_create(
        slug="race", title="Race", pi=pi, actor=admin, embargo_until=days(0),
        data_paths=["/data/race"],
    )  # fmt: skip
    results, barrier = [], threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            results.append(services.embargoes_lift())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert lifted_events().count() == 1


def test_a_new_pi_is_audited_as_owner_change_and_mailed(
    nightsky, admin, pi, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_set_pi(campaign=nightsky, pi=member, actor=admin)
    event = AuditEvent.objects.get(action="campaign.owner_change")
    assert event.comment == "owner changed"
    assert event.actor == admin and event.account == member
    assert event.detail == {
        "paths": ["/data/nightsky"],
        "from": {"name": "pi", "uid": pi.uid},
        "to": {"name": "member", "uid": member.uid},
    }
    (message,) = [m for m in mail.outbox if "new PI" in m.subject]
    assert sorted(message.bcc) == ["manager@example.org", "member@example.org", "pi@example.org"]
    assert (
        f"/data/nightsky: owner member (uid {member.uid}), group nightsky (gid {nightsky.gid}), "
        "files 0640, directories 2750" in message.body
    )


def test_the_page_shows_when_data_opens_and_the_plan_of_its_paths(
    client, nightsky, pi, admin, member
):
    page = client.get("/campaigns/nightsky/").content.decode()
    assert f'Data opens on <strong><time datetime="{days(1):%Y-%m-%d}">' in page
    assert "<code>/data/nightsky</code>" in page
    assert f'pi <span class="muted">({pi.uid})</span>' in page
    assert f'nightsky <span class="muted">({nightsky.gid})</span>' in page
    assert "<code>0640</code>" in page and "<code>2750</code>" in page

    services.campaign_update_embargo(campaign=nightsky, embargo_until=days(-2), actor=admin)
    services.campaign_set_pi(campaign=nightsky, pi=member, actor=admin)
    page = client.get("/campaigns/nightsky/").content.decode()
    assert f'Data public since <strong><time datetime="{days(-2):%Y-%m-%d}">' in page
    assert f'member <span class="muted">({member.uid})</span>' in page
    assert "<code>0644</code>" in page and "<code>2755</code>" in page
