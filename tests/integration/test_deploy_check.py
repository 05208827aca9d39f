import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.harness.celery_worker import REPO


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
    }
    show = "from django.conf import settings; print(settings.GATEHOUSE_CERT_PROXIES)"
    result = _manage("shell", "-c", show, **production)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    named = _manage("shell", "-c", show, GATEHOUSE_CERT_PROXIES="10.0.0.5", **production)
    assert named.stdout.strip().splitlines()[-1] == "['10.0.0.5']"
