"""The client address behind reverse proxies: X-Forwarded-For games."""

import pytest
from django.test import RequestFactory

from accounts.http import client_ip

PROXY = "10.0.0.2"


def ip(remote: str, forwarded: str | None = None) -> str | None:
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **headers))


@pytest.fixture
def proxies(settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = [PROXY, "192.0.2.0/28"]


def test_without_a_trusted_proxy_the_header_is_ignored(settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = []
    assert ip("203.0.113.5", "198.51.100.1") == "203.0.113.5"


def test_a_client_cannot_pose_as_a_proxy(proxies):
    assert ip("203.0.113.5", "198.51.100.1") == "203.0.113.5"
    assert ip("203.0.113.5", PROXY) == "203.0.113.5"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("198.51.100.1", "198.51.100.1"),
        # The client wrote the first entry itself; the proxy appended what it saw.
        ("1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Two proxies: the one in front (in the trusted network) appended the client.
        ("1.2.3.4, 198.51.100.1, 192.0.2.3", "198.51.100.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("", PROXY),
    ],
)
def test_the_rightmost_address_no_trusted_proxy_is(proxies, forwarded, client):
    assert ip(PROXY, forwarded) == client


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("unknown", PROXY),
        ("198.51.100.1:5555", PROXY),
        ("<script>", PROXY),
        ("198.51.100.1, 192.0.2.3, garbage", PROXY),
        ("garbage, 192.0.2.3", "192.0.2.3"),
    ],
)
def test_an_entry_that_is_not_an_address_ends_the_walk(proxies, forwarded, client):
    assert ip(PROXY, forwarded) == client
