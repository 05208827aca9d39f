"""A provider "iam" made of the dev IdP (tokens) and the loopback SCIM service (IAM v1.12)."""

import json

import pytest
from django.core.cache import cache

from accounts import idps
from accounts.scim.client import ClientCredentials
from tests.harness.idp import start_idp
from tests.harness.scim_service import JwtBearerVerifier, ScimDirectory, ScimService, certificates
from tests.harness.scim_service.devidp import SCIM_CLIENT

NICK = "iam"


@pytest.fixture(scope="session")
def idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp-scim"), clients=[SCIM_CLIENT], users=[]
    ) as running:
        yield running


@pytest.fixture
def directory() -> ScimDirectory:
    return ScimDirectory()


@pytest.fixture
def scim(directory, idp):
    verifier = JwtBearerVerifier(idp.issuer, audience=idp.scim_audience)
    with ScimService(directory, verifier, seed=11, order="drift") as service:
        yield service


def write_idpsecrets(path, idp, scim, unknown_users: str = "auto") -> None:
    path.write_text(
        json.dumps(
            {
                NICK: {
                    "issuer": idp.issuer,
                    "client_id": "gatehouse-web",
                    "client_secret": "web-secret",
                    "redirect_uris": ["http://127.0.0.1:8000/oidc/callback/"],
                    "SCIM": {
                        "client_id": SCIM_CLIENT["client_id"],
                        "client_secret": SCIM_CLIENT["client_secret"],
                        "base_url": scim.scim_url,
                    },
                    "unknown_users": unknown_users,
                },
                "cern": {  # Rucio wants a SCIM key everywhere; this placeholder is never used
                    "issuer": "https://auth.cern.ch/auth/realms/cern",
                    "client_id": "x",
                    "client_secret": "y",
                    "SCIM": {"client_id": "placeholder", "client_secret": "placeholder"},
                },
            }
        )
    )


@pytest.fixture
def provider(tmp_path, idp, scim, settings):
    """The "iam" provider, configured for SCIM sync, with quick retries."""
    path = tmp_path / "idpsecrets.json"
    write_idpsecrets(path, idp, scim)
    settings.GATEHOUSE_IDPSECRETS = str(path)
    settings.GATEHOUSE_SCIM_IDPS = [NICK]
    settings.GATEHOUSE_SCIM_BACKOFF_MS = 10
    settings.GATEHOUSE_SCIM_TIMEOUT = 5
    idps._load.cache_clear()
    cache.clear()
    yield idps.get_provider(NICK)
    idps._load.cache_clear()
    ClientCredentials.forget_all()


def add_person(directory: ScimDirectory, user_name: str, *dns: str, oidc_subject: str = "", **kw):
    """An IAM user with one external OIDC id and these certificate DNs (RFC 2253)."""
    return directory.add_user(
        user_name,
        oidc_ids=[("https://accounts.example.org/", oidc_subject or f"ext-{user_name}")],
        certificates=certificates(*dns) if dns else [],
        **kw,
    )
