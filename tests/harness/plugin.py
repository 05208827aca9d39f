"""pytest plugin: start throwaway PostgreSQL and Redis before Django reads its settings.

Loaded with `-p tests.harness.plugin` (pyproject addopts), so it runs before pytest-django sets
Django up. A DATABASE_URL / CELERY_BROKER_URL already pointing at PostgreSQL / Redis is used as is.
"""

import atexit
import os

import pytest
from cryptography.fernet import Fernet


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    from tests.harness.services import start_postgres, start_redis

    started = []
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        postgres = start_postgres()
        started.append(postgres)
        os.environ["DATABASE_URL"] = postgres.url
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        redis = start_redis()
        started.append(redis)
        os.environ["CELERY_BROKER_URL"] = redis.url
    os.environ.setdefault("GATEHOUSE_TOKEN_KEYS", Fernet.generate_key().decode())
    # Playwright's sync API keeps an event loop on the main thread; Django's ORM calls from the
    # test body are still synchronous, so allow them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    def stop_all():
        while started:
            started.pop().stop()

    atexit.register(stop_all)
    early_config.add_cleanup(stop_all)
