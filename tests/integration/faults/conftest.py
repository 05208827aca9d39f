"""Shared pieces of the fault tests: a Redis of their own (they stop it), a sender, waiting."""

import time
from collections.abc import Callable

import pytest
from django.db import connection

from tests.harness.celery_worker import celery_client
from tests.harness.services import start_redis


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, log=None):
    """Poll `condition` until it is truthy; fail naming `what` (and a log tail) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    tail = f"\n{log()[-3000:]}" if log else ""
    pytest.fail(f"{what} did not happen within {timeout:.0f} s{tail}")


@pytest.fixture
def own_redis():
    """A Redis only this test uses, so stopping it disturbs nothing else."""
    redis = start_redis()
    yield redis
    redis.stop()


@pytest.fixture
def sender(own_redis):
    """A plain Celery client of `own_redis`: sends tasks by name, as the web nodes do."""
    app = celery_client(own_redis.url, "faults-sender")
    yield app
    app.close()


def worker_database_url() -> str:
    """The test database's URL, for worker and beat processes."""
    settings = connection.settings_dict
    return (
        f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
