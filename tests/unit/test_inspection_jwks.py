"""JWKS cache behaviour against a real loopback issuer (no mocked HTTP), with a test clock."""

import threading
import time

import pytest

from tests.harness.jwks_server import LoopbackIssuer, rsa_key
from tokens.inspection import (
    IssuerUnavailable,
    JwksCache,
    Status,
    TrustedIssuer,
    inspect_token,
)

HOUR = 3600.0
NOW = time.time()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def issuer():
    with LoopbackIssuer(keys={"rsa1": rsa_key()}) as server:
        yield server


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache(clock):
    return JwksCache(clock=clock)


def trusted(issuer):
    return TrustedIssuer(issuer.issuer)


def inspect(issuer, cache, token):
    return inspect_token(token, issuers=[trusted(issuer)], jwks=cache, audience=None, now=NOW)


def test_keys_are_fetched_once_and_reused(issuer, cache, clock):
    token = issuer.sign(issuer.claims(now=NOW))
    for _ in range(5):
        assert inspect(issuer, cache, token).valid
        clock.advance(HOUR)
    assert issuer.discovery_requests == 1
    assert issuer.jwks_requests == 1


def test_keys_are_refreshed_after_six_hours(issuer, cache, clock):
    cache.lookup(trusted(issuer), "rsa1")
    clock.advance(6 * HOUR + 1)
    lookup = cache.lookup(trusted(issuer), "rsa1")
    assert lookup.key is not None and not lookup.stale
    assert issuer.jwks_requests == 2


def test_stale_copy_is_used_while_the_issuer_is_down(issuer, cache, clock):
    token = issuer.sign(issuer.claims(now=NOW))
    assert inspect(issuer, cache, token).valid
    issuer.down = True
    clock.advance(7 * HOUR)
    result = inspect(issuer, cache, token)
    assert result.valid
    assert result.check("signature").status is Status.PASS
    assert result.check("jwks").status is Status.WARN
    assert "503" in result.check("jwks").explanation


def test_stale_copy_is_used_when_the_issuer_is_unreachable(clock):
    server = LoopbackIssuer(keys={"rsa1": rsa_key()}).start()
    cache = JwksCache(clock=clock, timeout=(0.5, 0.5))
    token = server.sign(server.claims(now=NOW))
    assert inspect(server, cache, token).valid
    server.stop()  # connection refused from now on
    clock.advance(12 * HOUR)
    result = inspect(server, cache, token)
    assert result.valid
    assert "could not be reached" in result.check("jwks").explanation


def test_stale_copy_expires_after_two_days(issuer, cache, clock):
    token = issuer.sign(issuer.claims(now=NOW))
    assert inspect(issuer, cache, token).valid
    issuer.down = True
    clock.advance(2 * 24 * HOUR + 1)
    result = inspect(issuer, cache, token)
    assert not result.valid
    assert "could not be fetched" in result.check("signature").explanation


def test_failed_fetch_is_not_retried_within_a_minute(issuer, cache, clock):
    issuer.down = True
    cache.lookup(trusted(issuer), "rsa1")
    cache.lookup(trusted(issuer), "rsa1")
    assert issuer.discovery_requests == 1
    clock.advance(61)
    issuer.down = False
    assert cache.lookup(trusted(issuer), "rsa1").key is not None
    assert issuer.discovery_requests == 2


def test_unknown_kid_refetch_is_rate_limited(issuer, cache, clock):
    cache.lookup(trusted(issuer), "rsa1")
    assert cache.lookup(trusted(issuer), "nope").key is None  # just fetched: no refetch
    assert issuer.jwks_requests == 1
    clock.advance(61)
    for _ in range(10):
        assert cache.lookup(trusted(issuer), "nope").key is None
        clock.advance(5)
    assert issuer.jwks_requests == 2
    clock.advance(60)
    cache.lookup(trusted(issuer), "nope")
    assert issuer.jwks_requests == 3


def test_rotated_key_is_found_by_the_unknown_kid_refetch(issuer, cache, clock):
    cache.lookup(trusted(issuer), "rsa1")
    issuer.private_keys["rsa2"] = rsa_key()
    issuer.publish()
    clock.advance(61)
    token = issuer.sign(issuer.claims(now=NOW), kid="rsa2")
    assert inspect(issuer, cache, token).valid
    assert issuer.jwks_requests == 2


def test_concurrent_cold_lookups_fetch_once(issuer, cache):
    barrier = threading.Barrier(8)
    results = []

    def worker():
        barrier.wait()
        results.append(cache.lookup(trusted(issuer), "rsa1").key is not None)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8
    assert issuer.discovery_requests == 1


def test_discovery_naming_another_issuer_is_refused(issuer, cache):
    issuer.documents["/.well-known/openid-configuration"]["issuer"] = "https://evil.example"
    with pytest.raises(IssuerUnavailable, match="names issuer"):
        cache.warm(trusted(issuer))
    assert issuer.jwks_requests == 0


def test_plain_http_jwks_uri_off_loopback_is_refused(issuer, cache):
    issuer.documents["/.well-known/openid-configuration"]["jwks_uri"] = "http://example.org/jwks"
    with pytest.raises(IssuerUnavailable, match="not HTTPS"):
        cache.warm(trusted(issuer))


def test_discovery_url_follows_openid_rules():
    assert (
        TrustedIssuer("https://iam.example.org/").discovery_url
        == "https://iam.example.org/.well-known/openid-configuration"
    )
    assert (
        TrustedIssuer("https://sso.example.org/realms/cern").discovery_url
        == "https://sso.example.org/realms/cern/.well-known/openid-configuration"
    )


def test_keys_not_for_signing_are_ignored(issuer, cache):
    jwks = issuer.documents["/jwks"]
    jwks["keys"][0]["use"] = "enc"
    assert cache.warm(trusted(issuer)) == ()


def test_login_and_inspection_ask_the_same_cache_by_issuer_string(issuer, cache):
    """accounts.keys serves both callers: login asks by issuer string, inspection by
    TrustedIssuer; one fetch answers both, and a header without kid finds a lone key."""
    by_object = cache.lookup(trusted(issuer), "rsa1")
    by_string = cache.lookup(issuer.issuer, "rsa1")
    assert by_object.key is by_string.key is not None
    assert cache.lookup(issuer.issuer, None).key is by_string.key
    assert issuer.jwks_requests == 1


def test_a_header_without_kid_needs_a_single_published_key(clock):
    with LoopbackIssuer(keys={"rsa1": rsa_key(), "rsa2": rsa_key()}) as server:
        cache = JwksCache(clock=clock)
        found = cache.lookup(server.issuer, None)
        assert found.key is None and found.known_kids == ("rsa1", "rsa2")
