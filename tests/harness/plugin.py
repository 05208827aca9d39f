"""pytest plugin: throwaway PostgreSQL and Redis, started only for tests that need them.

Loaded with `-p tests.harness.plugin` (pyproject addopts), so it runs before pytest-django sets
Django up: it picks free ports and points DATABASE_URL and CELERY_BROKER_URL at them, and starts
both servers before the first test that uses the database, a live server or the Celery worker.
A run of unit tests alone starts nothing; a unit test that asks for a service fails and says to
move it to tests/integration. A DATABASE_URL / CELERY_BROKER_URL already pointing at PostgreSQL /
Redis is used as is.

`--sqlite` runs only the tests marked `sqlite` (code paths with an SQLite branch, which `make
run` uses) on a fresh SQLite database and the in-memory broker, starting no server;
tests/integration/test_sqlite.py runs that from the normal suite. Without it, those tests run on
PostgreSQL like the rest.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

# Fixtures (in a test's closure) and markers that mean "this test talks to the services".
SERVICE_FIXTURES = {"django_db_setup", "live_server", "celery_worker"}
SERVICE_MARKERS = {"django_db", "celery"}
UNIT_TESTS = Path(__file__).resolve().parents[1] / "unit"

_pending: dict[str, int] = {}  # service -> reserved port, not started yet
_started: list = []


def pytest_addoption(parser):
    parser.addoption(
        "--sqlite",
        action="store_true",
        help="run only the tests marked sqlite, on SQLite (the database of `make run`)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    from tests.harness.ports import free_port

    own: tuple[str, ...] = ()  # what --sqlite set up itself, used as is
    if "--sqlite" in args:
        own = ("sqlite", "memory")
        folder = tempfile.mkdtemp(prefix="gatehouse-sqlite-")
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/gatehouse.sqlite3"
        os.environ["GATEHOUSE_VAR_DIR"] = folder
        os.environ["CELERY_BROKER_URL"] = "memory://"
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres", *own)):
        _pending["postgres"] = free_port()
        os.environ["DATABASE_URL"] = (
            f"postgresql://postgres@127.0.0.1:{_pending['postgres']}/gatehouse"
        )
    if not os.environ.get("CELERY_BROKER_URL", "").startswith(("redis", *own)):
        _pending["redis"] = free_port()
        os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{_pending['redis']}/0"
    os.environ.setdefault("GATEHOUSE_TOKEN_KEYS", Fernet.generate_key().decode())
    # Playwright's sync API keeps an event loop on the main thread; Django's ORM calls from the
    # test body are still synchronous, so allow them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    atexit.register(services_stop)
    early_config.add_cleanup(services_stop)


def pytest_collection_modifyitems(config, items):
    if not config.getoption("sqlite"):
        return
    keep = [item for item in items if item.get_closest_marker("sqlite")]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def needs_services(item: pytest.Item) -> bool:
    return bool(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        item.get_closest_marker(name) for name in SERVICE_MARKERS
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if not needs_services(item):
        return
    if Path(str(item.path)).is_relative_to(UNIT_TESTS):
        pytest.fail(
            f"{item.nodeid} uses the database, a live server or Celery: unit tests start no "
            "services. Move it to tests/integration.",
            pytrace=False,
        )
    services_start()


def services_start() -> None:
    """Start the reserved servers that are not running yet (idempotent)."""
    from tests.harness.services import start_postgres, start_redis

    if "postgres" in _pending:
        _started.append(start_postgres(port=_pending.pop("postgres")))
    if "redis" in _pending:
        _started.append(start_redis(port=_pending.pop("redis")))


def services_stop() -> None:
    while _started:
        _started.pop().stop()
