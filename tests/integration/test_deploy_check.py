"""Production settings: `check --deploy` is clean, and start-up refuses what cannot work."""

import os
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from tests.harness.celery_worker import REPO

# Shared services a production node names (never contacted by these checks).
SHARED = {
    "CACHE_URL": "redis://redis.example.org:6379/1",
    "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in {"PATH", "DATABASE_URL", "HOME"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="gatehouse.example.org",
        GATEHOUSE_TOKEN_KEYS=Fernet.generate_key().decode(),
        EMAIL_HOST="smtp.example.org",
        **SHARED,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_PRODUCTION="1", ALLOWED_HOSTS="gatehouse.example.org")
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr


def test_production_refuses_to_start_without_token_keys():
    result = _manage(
        "check",
        DJANGO_PRODUCTION="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="gatehouse.example.org",
        **SHARED,
    )
    assert result.returncode != 0
    assert "GATEHOUSE_TOKEN_KEYS is missing" in result.stderr


def test_production_trusts_no_certificate_proxy_until_one_is_named():
    """gunicorn listens on 127.0.0.1 behind the site's own TLS proxy, which passes on whatever
    X-SSL-Client-* headers a client sends unless told otherwise: never trusted by default."""
    production = {
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "gatehouse.example.org",
        "GATEHOUSE_TOKEN_KEYS": Fernet.generate_key().decode(),
        **SHARED,
    }
    show = "from django.conf import settings; print(settings.GATEHOUSE_CERT_PROXIES)"
    result = _manage("shell", "-c", show, **production)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    named = _manage("shell", "-c", show, GATEHOUSE_CERT_PROXIES="10.0.0.5", **production)
    assert named.stdout.strip().splitlines()[-1] == "['10.0.0.5']"


def _production(**overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "gatehouse.example.org",
        "GATEHOUSE_TOKEN_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgresql://gatehouse@db.example.org:5432/gatehouse",
        **SHARED,
        **overrides,
    }
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        (
            {"DATABASE_URL": None},
            "DJANGO_PRODUCTION is set but the database is SQLite (DATABASE_URL is missing",
        ),
        ({"DATABASE_URL": "sqlite:////tmp/gatehouse.sqlite3"}, "set DATABASE_URL to the shared"),
        ({"CELERY_BROKER_URL": None}, "set CELERY_BROKER_URL to the shared Redis"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "set CELERY_BROKER_URL to the shared Redis"),
        ({"CACHE_URL": None}, "set CACHE_URL to the shared Redis"),
    ],
    ids=["no-database-url", "sqlite", "no-broker", "filesystem-broker", "no-cache-url"],
)
def test_production_refuses_to_start_on_what_one_machine_only_can_use(overrides, sentence):
    result = _import_settings(_production(**overrides))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and sentence in result.stderr
    assert result.stderr.rstrip().endswith(".")  # a whole sentence, ending in what to set


def test_production_starts_with_all_shared_services_named():
    result = _import_settings(_production())
    assert result.returncode == 0, result.stderr


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    """What every process does first (web, worker, beat, manage.py): read the settings."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-c", "import webui.settings"],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


CONNECTION_PARAMS = (
    "from django.db import connection; p = connection.get_connection_params(); "
    "print(p.get('sslmode'), p.get('connect_timeout'), p.get('host'), p.get('port'))"
)


def test_database_url_options_reach_the_connection():
    url = "postgresql://gatehouse:s%40cret@db.example.org:5433/gatehouse"
    result = _manage(
        "shell", "-c", CONNECTION_PARAMS, DATABASE_URL=f"{url}?sslmode=require&connect_timeout=7"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["require", "7", "db.example.org", "5433"]
    default = _manage("shell", "-c", CONNECTION_PARAMS, DATABASE_URL=url)
    assert default.stdout.splitlines()[-1].split() == ["None", "5", "db.example.org", "5433"]


SSL_IN_USE = (
    "from django.db import connection; connection.ensure_connection(); "
    "print('ssl', connection.connection.pgconn.ssl_in_use)"
)


def test_sslmode_reaches_the_real_postgresql(django_db_setup):
    """The throwaway PostgreSQL has no TLS: disable and prefer connect in clear, require is
    refused by libpq, so the option really reaches the connection."""
    url = os.environ["DATABASE_URL"]
    for mode in ("disable", "prefer"):
        result = _manage("shell", "-c", SSL_IN_USE, DATABASE_URL=f"{url}?sslmode={mode}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-2:] == ["ssl", "False"]
    required = _manage("shell", "-c", SSL_IN_USE, DATABASE_URL=f"{url}?sslmode=require")
    assert required.returncode != 0
    assert "server does not support SSL, but SSL was required" in required.stderr
