"""A real Rucio server for the session (tests/harness/rucio.py), and settings pointing at it."""

import os

import pytest

from tests.harness.rucio import ROOT_USERNAME, FaultProxy, start_rucio


@pytest.fixture(scope="session")
def rucio_server():
    server = start_rucio(postgres_url=os.environ["DATABASE_URL"])
    yield server
    server.stop()


@pytest.fixture
def rucio(settings, rucio_server):
    """Gatehouse configured for the real Rucio (root, userpass), retries without long waits."""
    settings.GATEHOUSE_RUCIO_URL = rucio_server.url
    settings.GATEHOUSE_RUCIO_AUTH_URL = rucio_server.url
    settings.GATEHOUSE_RUCIO_ACCOUNT = "root"
    settings.GATEHOUSE_RUCIO_USERNAME = ROOT_USERNAME
    settings.GATEHOUSE_RUCIO_PASSWORD = rucio_server.root_password
    settings.GATEHOUSE_RUCIO_ATTEMPTS = 3
    settings.GATEHOUSE_RUCIO_BACKOFF_MS = 10
    settings.GATEHOUSE_RUCIO_FAILSAFE_PERCENT = 100
    return rucio_server


@pytest.fixture
def rucio_proxy(rucio):
    proxy = FaultProxy(rucio.port)
    yield proxy
    proxy.stop()


@pytest.fixture
def rucio_client(rucio):
    """Gatehouse's own client, for reading Rucio back in assertions."""
    from accounts.rucio.client import RucioClient, RucioConfig

    with RucioClient(RucioConfig.from_settings()) as client:
        yield client
