"""Which peers count as the certificate proxy, and how its headers are read."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from accounts.certificates import CertificateProblem, client_certificate, is_trusted_proxy


@pytest.fixture
def proxies(settings):
    settings.GATEHOUSE_CERT_PROXIES = ["127.0.0.1", "10.0.0.0/24", "2001:db8::/64"]
    settings.GATEHOUSE_CERT_DN_HEADER = "X-Client-DN"
    settings.GATEHOUSE_CERT_VERIFY_HEADER = "X-Client-Verify"
    return settings


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.200", True),
        ("10.0.1.1", False),
        ("2001:db8::7", True),
        ("::1", False),
        ("", False),
        ("not-an-address", False),
    ],
)
def test_trusted_proxy_addresses_and_networks(proxies, address, trusted):
    assert is_trusted_proxy(address) is trusted


def test_a_misconfigured_proxy_list_says_what_to_fix(settings):
    settings.GATEHOUSE_CERT_PROXIES = ["proxy.example.org"]
    with pytest.raises(ImproperlyConfigured, match="not an IP address or network"):
        is_trusted_proxy("127.0.0.1")


def test_configured_header_names_are_the_ones_read(proxies):
    request = RequestFactory().get(
        "/",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_CLIENT_DN="/C=DE/CN=Jane",
        HTTP_X_CLIENT_VERIFY="SUCCESS",
    )
    assert client_certificate(request).dn.to_slash() == "/C=DE/CN=Jane"
    default_names = RequestFactory().get(
        "/",
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_SSL_CLIENT_S_DN="/C=DE/CN=Jane",
        HTTP_X_SSL_CLIENT_VERIFY="SUCCESS",
    )
    assert client_certificate(default_names).problem == CertificateProblem.NO_CERTIFICATE
