"""A gunicorn-served Gatehouse while its PostgreSQL stops, its Redis stops and a table is locked.

Real parts: gunicorn (as the README runs it) in a subprocess, with a PostgreSQL and a Redis of
this module's own (the tests stop them), migrated and seeded once.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import psycopg
import pytest
import requests
from django.urls import reverse

from tests.harness.gunicorn import REPO, start_gunicorn
from tests.harness.services import start_postgres, start_redis

pytestmark = pytest.mark.slow

STATEMENT_TIMEOUT_MS = 1000


@dataclass
class Site:
    url: str
    log: callable
    postgres: object
    redis: object
    seed: dict

    def get(self, path: str, timeout: float = 15, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=timeout, allow_redirects=False, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    postgres, redis = start_postgres(), start_redis()
    env = {
        "DATABASE_URL": postgres.url,
        "CELERY_BROKER_URL": redis.url,
        "CACHE_URL": redis.url.removesuffix("/0") + "/1",
        "DEBUG": "False",
        "SECRET_KEY": "faults-test-secret-key-" + "x" * 40,
        "GATEHOUSE_DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "DJANGO_SETTINGS_MODULE": "webui.settings",
        "PYTHONPATH": str(REPO),
    }
    server = None
    try:
        run_env = {**os.environ, **env}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=run_env, check=True
        )
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.harness.site_seed"],
            cwd=REPO, env=run_env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        server = start_gunicorn(env=env, logfile=tmp / "gunicorn.log")
        yield Site(server.url, server.log, postgres, redis, seed)
    finally:
        if server:
            server.stop()
        redis.stop()
        postgres.stop()


def _load(site: Site, paths: list[str], stop: threading.Event, results: list) -> None:
    """GET `paths` round and round until `stop`; record (start, path, status, Retry-After)."""
    while not stop.is_set():
        for path in paths:
            started = time.monotonic()
            try:
                response = site.get(path)
                results.append((started, path, response.status_code, response.headers))
            except requests.RequestException as exc:
                results.append((started, path, type(exc).__name__, {}))


def _failure_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Service Unavailable" in line
            or "database unavailable" in line]  # fmt: skip


def test_postgresql_stopped_under_load_answers_503_then_recovers(site):
    campaign = f"/campaigns/{site.seed['campaign']}/"
    requester = requests.Session()
    requester.cookies.set("sessionid", site.seed["sessions"]["requester"])
    page = requester.get(site.url + campaign, timeout=15)
    assert page.status_code == 200
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page.text).group(1)
    failures_before = len(_failure_lines(site.log()))

    stop, results = threading.Event(), []
    threads = [
        threading.Thread(target=_load, args=(site, [campaign, "/campaigns/"], stop, results))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        site.postgres.pause()
        outage_started = time.monotonic()
        time.sleep(1)
        refused = requester.post(
            site.url + campaign + "request/",
            data={"message": "please"},
            headers={"X-CSRFToken": csrf, "Referer": site.url + campaign},
            timeout=15,
            allow_redirects=False,
        )
        time.sleep(2)
        site.postgres.resume()
        back = time.monotonic()
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    statuses = {status for _, _, status, _ in results}
    assert statuses <= {200, 503}, f"unexpected answers: {statuses}"
    during = [(status, headers) for started, _, status, headers in results
              if outage_started < started < back]  # fmt: skip
    assert any(status == 503 for status, _ in during)
    assert all(headers["Retry-After"] for status, headers in during if status == 503)
    # Back within a second or two: every request started 2 s after PostgreSQL was back got 200.
    settled = [status for started, _, status, _ in results if started > back + 2]
    assert settled and set(settled) == {200}

    assert refused.status_code == 503 and refused.headers["Retry-After"]
    with psycopg.connect(site.postgres.url) as db:
        (requests_made,) = db.execute(
            "SELECT count(*) FROM campaigns_membership m JOIN accounts_account a "
            "ON a.id = m.account_id WHERE a.name = 'requester'"
        ).fetchone()
    assert requests_made == 0, "the refused POST left a row behind"

    log = site.log()
    refused_count = sum(1 for *_, status, _ in results if status == 503) + 1
    assert len(_failure_lines(log)) - failures_before == refused_count
    assert "Traceback" not in log


def test_redis_stopped_pages_and_exports_still_answer(site):
    site.redis.pause()
    try:
        assert site.get("/login/").status_code == 200
        assert site.get(f"/campaigns/{site.seed['campaign']}/").status_code == 200
        export = site.get(
            "/exports/group",
            headers={"Authorization": f"Bearer {site.seed['node_token']}"},
        )
        assert export.status_code == 200, export.text[:500]
        assert "faults" in export.text
        assert site.get("/healthz").json()["failing"] == ["broker", "cache"]
    finally:
        site.redis.resume()
    assert "Traceback" not in site.log()


def test_a_locked_table_fails_its_pages_within_the_statement_timeout_not_healthz(site):
    campaign = f"/campaigns/{site.seed['campaign']}/"
    with psycopg.connect(site.postgres.url) as locker:
        locker.execute("LOCK TABLE campaigns_campaign IN ACCESS EXCLUSIVE MODE")
        answers = []
        stuck = [
            threading.Thread(target=lambda: answers.append(site.get(campaign))) for _ in range(4)
        ]
        for thread in stuck:
            thread.start()
        # /healthz touches no table: it answers while every campaign request waits on the lock.
        health = site.get("/healthz", timeout=5)
        for thread in stuck:
            thread.join(timeout=30)
        locker.rollback()
    assert health.status_code == 200 and health.json()["status"] == "ok"
    # Each waited about the statement timeout (1 s), far from gunicorn's 30 s (requests' 15 s
    # timeout would have raised).
    assert [a.status_code for a in answers] == [503] * 4
    assert all(a.headers["Retry-After"] for a in answers)
    assert site.get(campaign).status_code == 200


@pytest.mark.django_db
def test_run_now_says_on_the_page_that_the_queue_is_unreachable(
    client, admin, settings, monkeypatch
):
    """In-process (a forced login across processes is not worth it): the broker is a Redis that
    was started and stopped, so nothing listens on its port."""
    from accounts.models import AuditEvent
    from webui.celery import app

    stopped = start_redis()
    stopped.stop()
    settings.GATEHOUSE_SCIM_IDPS = ["iam"]
    monkeypatch.setitem(app.conf, "broker_write_url", stopped.url)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    monkeypatch.setattr(app, "_pool", None)
    client.force_login(admin)

    page = client.post(reverse("scim_sync_run_now"), {"idp": "iam"}, follow=True)

    assert page.status_code == 200
    assert "The task queue (Redis) cannot be reached" in page.content.decode()
    assert not AuditEvent.objects.filter(action="scim.sync.request").exists()
