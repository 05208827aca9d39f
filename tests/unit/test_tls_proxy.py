"""The harness's TLS-terminating proxy and throwaway CA (used to put Gatehouse's issuer on
HTTPS for XRootD and the scitokens library)."""

import json
import ssl
import urllib.error
import urllib.request

import pytest

from tests.harness.jwks_server import LoopbackJsonServer
from tests.harness.tls import ThrowawayCA
from tests.harness.tls_proxy import TlsTerminatingProxy


@pytest.fixture(scope="module")
def ca():
    authority = ThrowawayCA()
    yield authority
    authority.cleanup()


@pytest.fixture
def proxied(ca):
    with LoopbackJsonServer() as upstream:
        upstream.documents["/doc"] = {"hello": "world"}
        upstream.documents["/big"] = {f"key{i}": "x" * 200 for i in range(2000)}
        port = int(upstream.base_url.rsplit(":", 1)[1])
        with TlsTerminatingProxy(
            upstream_port=port, context=ca.issue_server().server_context()
        ) as proxy:
            yield proxy, upstream


def test_proxy_serves_the_upstream_over_tls_trusted_by_the_ca(ca, proxied):
    proxy, upstream = proxied

    with urllib.request.urlopen(proxy.url + "/doc", context=ca.client_context()) as response:
        small = json.loads(response.read())
    with urllib.request.urlopen(proxy.url + "/big", context=ca.client_context()) as response:
        big = json.loads(response.read())

    assert proxy.url.startswith("https://127.0.0.1:")
    assert small == {"hello": "world"}
    assert big == upstream.documents["/big"]
    assert upstream.requests["/doc"] == 1


def test_a_client_without_the_ca_refuses_the_certificate(proxied):
    proxy, upstream = proxied
    strict = ssl.create_default_context()

    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(proxy.url + "/doc", context=strict)
    assert upstream.requests["/doc"] == 0


def test_bundle_is_the_system_bundle_plus_the_ca(ca, tmp_path):
    bundle = ca.write_bundle(tmp_path / "bundle.crt").read_bytes()

    assert bundle.endswith(ca.cert_pem)
    assert bundle.count(b"BEGIN CERTIFICATE") > 1
