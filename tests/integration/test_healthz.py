import json
import subprocess
import sys

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_healthz_ok_names_each_check(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "broker": "ok"}


def test_healthz_503_names_the_database_when_postgresql_is_stopped(tmp_path):
    """A second throwaway PostgreSQL is stopped; the app pointed at it must say 'database'."""
    from tests.harness.services import start_postgres

    postgres = start_postgres()
    url = postgres.url
    postgres.stop()
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client(HTTP_HOST='localhost').get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "webui.settings",
            "PATH": "/usr/bin:/bin",
            "CELERY_BROKER_URL": "filesystem://",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 503
    assert outcome["body"]["failing"] == ["database"]
    assert outcome["body"]["checks"]["database"].startswith("error")
    assert "password" not in result.stdout.lower()


def test_healthz_reports_a_stopped_broker_and_cache_but_stays_ready(settings, db, client):
    """Pages work without Redis, so a load balancer must not take the node out for it."""
    from tests.harness.services import start_redis

    redis = start_redis()
    settings.CELERY_BROKER_URL = redis.url
    settings.CACHE_URL = redis.url
    redis.stop()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == ["broker", "cache"]
    assert body["checks"]["broker"].startswith("error")


@pytest.mark.django_db
def test_status_page_reads_as_a_page_for_people_and_json_for_monitors(client):
    from datetime import timedelta

    from accounts.jobs import scheduled_run_claim

    scheduled_run_claim(job="token-cleanup", every=timedelta(minutes=5))
    page = client.get(reverse("status"))
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert b"token-cleanup" in page.content and b"Services" in page.content
    data = client.get(reverse("status"), HTTP_ACCEPT="application/json").json()
    assert data["checks"]["database"] == "ok"
    assert data["jobs"]["token-cleanup"]["runs"] == 1
