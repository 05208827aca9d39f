"""The shared cast and the real services the tests run against.

PostgreSQL and Redis are started by tests/harness/plugin.py before Django reads its settings.
"""

import pytest
from django.db import connection

from accounts.models import Account
from accounts.services import account_create


def _person(name: str, **extra) -> Account:
    return account_create(
        name=name,
        email=f"{name}@example.org",
        display_name=name.replace("-", " ").title(),
        **extra,
    )


@pytest.fixture
def admin(db) -> Account:
    return _person("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def pi(db) -> Account:
    return _person("pi")


@pytest.fixture
def manager(db) -> Account:
    return _person("manager")


@pytest.fixture
def member(db) -> Account:
    return _person("member")


@pytest.fixture
def requester(db) -> Account:
    return _person("requester")


@pytest.fixture
def outsider(db) -> Account:
    return _person("outsider")


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker on the test database; use with @pytest.mark.django_db(transaction=True)."""
    from tests.harness.celery_worker import start_worker

    with django_db_blocker.unblock():
        settings = connection.settings_dict
        url = (
            f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/"
            f"{settings['NAME']}"
        )
    worker = start_worker(
        database_url=url, logfile=tmp_path_factory.mktemp("celery") / "worker.log"
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.harness.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server, request, tmp_path):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
