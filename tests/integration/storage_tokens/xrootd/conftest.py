"""Real XRootD with the SciTokens plugin, and the issuers whose tokens it is asked to honour.

One throwaway CA per session; one XRootD per test module (it starts in about a second, and a
module's tests share its key cache as a real storage element would). Gatehouse's issuer is the
live server behind a TLS-terminating proxy, because scitokens-cpp and the scitokens library
fetch discovery and JWKS over HTTPS only; SITE_URL (= `iss`) is the proxy's https URL.
"""

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from campaigns import services as campaign_services
from tests.harness.jwks_server import ec_key, rsa_key
from tests.harness.scitokens_python import scitokens_environment
from tests.harness.standin_issuer import TlsLoopbackIssuer
from tests.harness.tls import ThrowawayCA
from tests.harness.tls_proxy import TlsTerminatingProxy
from tests.harness.xrootd import RunningXrootd, start_xrootd, xrootd_missing

BASE_PATH = "/store/gatehouse"  # the stand-in issuer's area
GATEHOUSE_BASE_PATH = "/data"  # the storage element's base path for Gatehouse's tokens
AUDIENCE = "https://xrootd.gatehouse.test"


@pytest.fixture(scope="session")
def throwaway_ca() -> Iterator[ThrowawayCA]:
    ca = ThrowawayCA()
    yield ca
    ca.cleanup()


@pytest.fixture(scope="module")
def standin_issuer(throwaway_ca) -> Iterator[TlsLoopbackIssuer]:
    """STAND-IN issuer for the harness self-test (not Gatehouse): ES256 key `ec1`, RS256 key
    `rsa1`, and `ec-next`, published before any token uses it as a rotation would."""
    keys = {"ec1": ec_key(), "rsa1": rsa_key(), "ec-next": ec_key()}
    server = TlsLoopbackIssuer(context=throwaway_ca.issue_server().server_context(), keys=keys)
    with server:
        yield server


def start_module_xrootd(*, issuer: str, base_path: str, ca: ThrowawayCA) -> RunningXrootd:
    reason = xrootd_missing()
    if reason:
        pytest.fail(f"A real XRootD is needed and cannot start: {reason}")
    return start_xrootd(issuer=issuer, base_path=base_path, audience=AUDIENCE, ca=ca)


@pytest.fixture(scope="module")
def standin_xrootd(standin_issuer, throwaway_ca) -> Iterator[RunningXrootd]:
    server = start_module_xrootd(issuer=standin_issuer.issuer, base_path=BASE_PATH, ca=throwaway_ca)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gatehouse_tls(live_server, throwaway_ca) -> Iterator[TlsTerminatingProxy]:
    """https://127.0.0.1:PORT in front of the live server."""
    context = throwaway_ca.issue_server().server_context()
    port = urlsplit(live_server.url).port
    assert port is not None
    with TlsTerminatingProxy(upstream_port=port, context=context) as proxy:
        yield proxy


@pytest.fixture
def gatehouse_issuer_url(gatehouse_tls) -> str:
    """Overrides the storage_tokens conftest: the issuer is the https proxy's URL."""
    return gatehouse_tls.url


@pytest.fixture(scope="module")
def gatehouse_xrootd(gatehouse_tls, throwaway_ca) -> Iterator[RunningXrootd]:
    """XRootD trusting Gatehouse (the https proxy's URL) for /data with AUDIENCE."""
    server = start_module_xrootd(
        issuer=gatehouse_tls.url, base_path=GATEHOUSE_BASE_PATH, ca=throwaway_ca
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def python_scitokens(throwaway_ca, tmp_path_factory) -> Iterator[None]:
    """The scitokens library trusts the throwaway CA and keeps its key cache in a temp dir."""
    with scitokens_environment(
        ca_file=throwaway_ca.cert_file, cache_dir=tmp_path_factory.mktemp("scitokens-cache")
    ):
        yield


@pytest.fixture
def campaigns(pi, member, admin):
    """Two embargoed campaigns: `member` is in nightsky only; `pi` leads both."""
    embargo = timezone.localdate() + timedelta(days=30)
    made = {}
    for slug in ("nightsky", "deepfield"):
        made[slug] = campaign_services.campaign_create(
            slug=slug,
            title=slug.title(),
            pi=pi,
            actor=admin,
            data_paths=[f"{GATEHOUSE_BASE_PATH}/{slug}"],
            embargo_until=embargo,
        )
    asked = campaign_services.membership_request(campaign=made["nightsky"], account=member)
    campaign_services.membership_approve(membership=asked, actor=pi)
    return made
