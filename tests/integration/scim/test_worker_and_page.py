"""SCIM sync through a real Celery worker, the admins' sync page, and `manage.py scim_sync`.

The worker here is this module's own (queue "scim-test"), started with the environment that
points it at this module's provider; the session worker knows nothing of it.
"""

import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts import idps
from accounts.models import Account, AuditEvent, SyncRun
from accounts.scim.client import ClientCredentials
from accounts.tasks import scim_sync_all, scim_sync_provider
from tests.harness.celery_worker import start_worker
from tests.harness.scim_service import JwtBearerVerifier, ScimDirectory, ScimService

from .conftest import NICK, add_person, write_idpsecrets

QUEUE = "scim-test"


@pytest.fixture(scope="module")
def module_scim(idp):
    verifier = JwtBearerVerifier(idp.issuer, audience=idp.scim_audience)
    with ScimService(ScimDirectory(), verifier, seed=3) as service:
        yield service


@pytest.fixture(scope="module")
def idpsecrets_path(tmp_path_factory, idp, module_scim):
    path = tmp_path_factory.mktemp("scim-worker") / "idpsecrets.json"
    write_idpsecrets(path, idp, module_scim)
    return path


@pytest.fixture(scope="module")
def scim_worker(django_db_setup, django_db_blocker, tmp_path_factory, idpsecrets_path):
    with django_db_blocker.unblock():
        db = connection.settings_dict
        url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    worker = start_worker(
        database_url=url,
        logfile=tmp_path_factory.mktemp("scim-celery") / "worker.log",
        queues=QUEUE,
        extra_env={
            "GATEHOUSE_IDPSECRETS": str(idpsecrets_path),
            "GATEHOUSE_SCIM_IDPS": NICK,
            "GATEHOUSE_SCIM_QUEUE": QUEUE,
            "GATEHOUSE_SCIM_BACKOFF_MS": "10",
        },
    )
    yield worker
    worker.stop()


@pytest.fixture
def directory(module_scim):
    fresh = ScimDirectory()
    module_scim.use(fresh)
    module_scim.faults.clear()
    module_scim.clear_log()
    return fresh


@pytest.fixture
def configured(settings, idpsecrets_path):
    settings.GATEHOUSE_IDPSECRETS = str(idpsecrets_path)
    settings.GATEHOUSE_SCIM_IDPS = [NICK]
    settings.GATEHOUSE_SCIM_QUEUE = QUEUE
    idps._load.cache_clear()
    yield
    idps._load.cache_clear()
    ClientCredentials.forget_all()


def wait_for_runs(count: int, timeout: float = 90) -> list[SyncRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(SyncRun.objects.exclude(outcome=SyncRun.Outcome.RUNNING).order_by("started"))
        if len(runs) >= count:
            return runs
        time.sleep(0.2)
    raise AssertionError(f"{count} finished sync run(s) did not appear in {timeout} s")


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_the_worker_syncs_250_users(scim_worker, configured, directory):
    for i in range(250):
        add_person(directory, f"user{i:03d}", f"CN=User {i},O=Example,C=DE")
    scim_sync_provider.apply_async((NICK,), queue=QUEUE)
    (run,) = wait_for_runs(1)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.triggered_by == "beat" and run.counts["created"] == 250
    assert Account.objects.count() == 250


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_two_queued_runs_do_not_overlap(scim_worker, configured, directory, module_scim):
    for i in range(120):
        add_person(directory, f"user{i:03d}")
    module_scim.faults.slow("/scim/Users", seconds=1.5, start_index=1)
    scim_sync_all.apply()  # what beat sends; it queues one run per provider
    scim_sync_provider.apply_async((NICK,), queue=QUEUE)
    (run,) = wait_for_runs(1)
    time.sleep(2)  # the other task has had time to find the lock taken
    assert SyncRun.objects.count() == 1 and run.outcome == SyncRun.Outcome.SUCCESS
    assert "Another SCIM sync of iam is running" in scim_worker.log()
    assert Account.objects.count() == 120


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_run_now_button_starts_a_sync_on_the_worker(
    scim_worker, configured, directory, client, admin
):
    add_person(directory, "anna")
    client.force_login(admin)
    response = client.post(reverse("scim_sync_run_now"), {"idp": NICK})
    assert response.status_code == 302 and response.url == reverse("scim_sync_runs")
    (run,) = wait_for_runs(1)
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.triggered_by == "admin:admin"
    assert AuditEvent.objects.filter(action="scim.sync.request", actor=admin).exists()
    page = client.get(reverse("scim_sync_runs"))
    assert "success" in page.content.decode() and "admin:admin" in page.content.decode()


# who may use the sync page
@pytest.mark.django_db
def test_sync_page_is_for_admins_only(client, admin, member, configured):
    url = reverse("scim_sync_runs")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and reverse("login") in anonymous.url
    client.force_login(member)
    assert client.get(url).status_code == 403
    assert client.post(reverse("scim_sync_run_now"), {"idp": NICK}).status_code == 403
    client.force_login(admin)
    page = client.get(url)
    assert page.status_code == 200
    assert "No sync has run yet" in page.content.decode()
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert b"<html" not in fragment.content and b"sync-history" in fragment.content


@pytest.mark.django_db
def test_run_now_refuses_a_provider_that_is_not_synced(client, admin, configured):
    client.force_login(admin)
    response = client.post(reverse("scim_sync_run_now"), {"idp": "cern"}, follow=True)
    assert "not set up for SCIM sync" in response.content.decode()
    assert not AuditEvent.objects.filter(action="scim.sync.request").exists()
    assert client.get(reverse("scim_sync_run_now")).status_code == 405


def test_beat_runs_the_sync_every_30_minutes_by_default(settings):
    from webui.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["scim-sync"]
    assert entry["task"] == "accounts.tasks.scim_sync_all" and entry["schedule"] == 1800
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


# the command
@pytest.mark.django_db
def test_command_dry_run_prints_what_would_change(configured, directory, capsys):
    add_person(directory, "anna")
    call_command("scim_sync", "--idp", NICK, "--dry-run")
    out, err = capsys.readouterr()
    assert "SCIM sync of iam: dry run" in out and "create account anna" in out
    assert "users [" in err and "1/1" in err  # the progress bar
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_command_refuses_unknown_and_unsynced_providers(configured):
    with pytest.raises(CommandError, match="no provider 'nope'"):
        call_command("scim_sync", "--idp", "nope")
    with pytest.raises(CommandError, match="not configured"):
        call_command("scim_sync", "--idp", "cern")


@pytest.mark.django_db
def test_command_fails_loudly_when_the_run_fails(configured, directory, module_scim):
    add_person(directory, "anna")
    module_scim.faults.malformed("/scim/Users")
    with pytest.raises(CommandError, match="did not complete"):
        call_command("scim_sync", "--idp", NICK, verbosity=0)
    assert SyncRun.objects.get().outcome == SyncRun.Outcome.FAILED
