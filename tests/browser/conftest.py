"""Fixtures the browser tests share."""

import json

import pytest

from tests.harness.jwks_server import LoopbackIssuer


@pytest.fixture
def issuer(settings, tmp_path):
    """A loopback token issuer, trusted as the provider "Test IAM" with storage base /vo."""
    with LoopbackIssuer() as server:
        secrets = tmp_path / "idpsecrets.json"
        secrets.write_text(
            json.dumps(
                {
                    "test": {
                        "issuer": server.issuer,
                        "client_id": "c",
                        "client_secret": "s",
                        "display_name": "Test IAM",
                        "storage_base_path": "/vo",
                    }
                }
            )
        )
        settings.GATEHOUSE_IDPSECRETS = str(secrets)
        yield server
