"""Valid tokens, delegation, redaction and the explanation registry."""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.harness.jwks_server import LoopbackIssuer, ec_key, rsa_key
from tokens.inspection import (
    KNOWN_CLAIMS,
    JwksCache,
    Status,
    TrustedIssuer,
    explain_claim,
    fingerprint,
    inspect_token,
    normalise_audience,
)

NOW = time.time()
STORAGE = "https://storage.example.org"


@pytest.fixture(scope="module")
def issuer():
    keys = {"rsa1": rsa_key(), "ec1": ec_key(), "ec384": ec_key(ec.SECP384R1())}
    with LoopbackIssuer(keys=keys) as server:
        yield server


@pytest.fixture(scope="module")
def cache():
    return JwksCache()


def inspect(token, issuer, cache, **kwargs):
    kwargs.setdefault("audience", STORAGE)
    trusted = [TrustedIssuer(issuer.issuer, storage_base_path="/vo")]
    return inspect_token(token, issuers=trusted, jwks=cache, now=NOW, **kwargs)


@pytest.mark.parametrize(
    ("kid", "alg"),
    [("rsa1", "RS256"), ("rsa1", "RS512"), ("rsa1", "PS256"), ("ec1", "ES256"), ("ec384", "ES384")],
)
def test_valid_token_passes_every_check(issuer, cache, kid, alg):
    token = issuer.sign(issuer.claims(now=NOW), kid=kid, alg=alg)
    result = inspect(token, issuer, cache)
    assert result.valid, [c for c in result.checks if c.status is Status.FAIL]
    for check_id in ("structure", "alg", "iss", "signature", "exp", "nbf", "iat", "aud", "wlcg"):
        assert result.check(check_id).status is Status.PASS, check_id
    assert alg in result.check("signature").explanation


def test_es256_token_with_wrong_curve_key_is_refused(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW), kid="ec384", alg="ES384")
    header, claims, signature = token.split(".")
    wrong = base64.urlsafe_b64encode(b'{"alg":"ES256","kid":"ec384"}').rstrip(b"=").decode()
    result = inspect(f"{wrong}.{claims}.{signature}", issuer, cache)
    assert "needs curve P-256" in result.check("signature").explanation


def test_expiry_shows_remaining_time(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW, exp=int(NOW) + 3030))
    assert "Expires in 50 min" in inspect(token, issuer, cache).check("exp").explanation


def test_expired_within_clock_skew_is_a_warning(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW - 1200, exp=int(NOW) - 30))
    result = inspect(token, issuer, cache)
    assert result.check("exp").status is Status.WARN
    assert result.valid


def test_audience_matches_after_normalising_the_target(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW))
    result = inspect(token, issuer, cache, audience="HTTPS://Storage.Example.org:443/")
    assert result.check("aud").status is Status.PASS


def test_unnormalised_audience_in_token_is_a_warning(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW, aud="https://storage.example.org:443/"))
    result = inspect(token, issuer, cache)
    assert result.check("aud").status is Status.WARN
    assert "exact string" in result.check("aud").explanation


def test_rucio_audience_and_scope(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW, aud=["rucio", STORAGE], scope="openid rucio"))
    result = inspect(token, issuer, cache, audience="rucio", expected_scope="rucio")
    assert result.check("aud").status is Status.PASS
    assert result.check("scope").status is Status.PASS


def test_missing_expected_scope_fails(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW, scope="openid"))
    result = inspect(token, issuer, cache, expected_scope="rucio")
    assert not result.valid
    assert "request the token with scope rucio" in result.check("scope").explanation


def test_rfc9068_access_token_is_reported_as_information(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW), headers={"typ": "at+jwt"})
    check = inspect(token, issuer, cache).check("rfc9068")
    assert check.status is Status.INFO
    assert "An RFC 9068 access token" in check.explanation


def test_act_chain_lists_the_current_actor_first(issuer, cache):
    act = {"sub": "fts", "iss": "https://fts.example", "act": {"sub": "rucio", "act": {"sub": "u"}}}
    claims = issuer.claims(now=NOW, act=act, may_act={"sub": "panda"}, azp="rucio-client")
    result = inspect(issuer.sign(claims), issuer, cache)
    assert [actor.sub for actor in result.act_chain] == ["fts", "rucio", "u"]
    assert result.act_chain[0].iss == "https://fts.example"
    assert result.delegation.may_act.sub == "panda"
    assert result.delegation.azp == "rucio-client"
    assert result.delegation.client_id == "gatehouse-test"
    assert result.delegation.jti == claims["jti"]
    assert "fts @ https://fts.example ← rucio ← u" in result.check("act").explanation


def test_malformed_act_is_a_warning(issuer, cache):
    result = inspect(issuer.sign(issuer.claims(now=NOW, act="fts")), issuer, cache)
    assert result.check("act").status is Status.WARN
    assert result.act_chain == ()


def test_capabilities_use_the_issuers_base_path(issuer, cache):
    result = inspect(issuer.sign(issuer.claims(now=NOW)), issuer, cache)
    assert result.capabilities.may("read", "/vo/data/run1").allowed
    assert result.capabilities.may("create", "/vo/data/upload/f").allowed
    assert not result.capabilities.may("create", "/vo/data/f").allowed


def test_claims_are_decoded_even_when_invalid(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW - 9000))
    result = inspect(token, issuer, cache)
    assert not result.valid
    assert result.claims["sub"] == "a1b98335-9649-4fb0-961d-5a49ce108d49"
    assert result.header["kid"] == "rsa1"


def test_bearer_prefix_is_removed(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW))
    result = inspect(f"  Bearer {token}\n", issuer, cache)
    assert result.valid
    assert result.check("input").status is Status.INFO


def test_iam_style_refresh_token_gets_a_warning(issuer, cache):
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"jti":"0c8f-4b1e"}').rstrip(b"=").decode()
    result = inspect(f"{header}.{claims}.", issuer, cache)
    assert not result.valid
    assert result.check("refresh_token").status is Status.WARN


def test_keycloak_style_refresh_token_gets_a_warning(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW, typ="Refresh"))
    assert inspect(token, issuer, cache).check("refresh_token").status is Status.WARN


def test_opaque_token_gets_a_refresh_warning(issuer, cache):
    result = inspect("8f2c1a7e9b3d4c5f6a7b8c9d0e1f2a3b4c5d6e7f", issuer, cache)
    assert not result.valid
    assert result.check("refresh_token").status is Status.WARN


def test_fingerprint_never_reveals_the_token(issuer):
    token = issuer.sign(issuer.claims(now=NOW))
    shown = fingerprint(token)
    assert shown.startswith(token[:6] + "…" + token[-4:])
    assert "sha256:" in shown
    assert len(shown) < 40
    assert fingerprint("short-secret").startswith("sha256:")


def test_to_dict_is_json_and_never_contains_the_token(issuer, cache):
    token = issuer.sign(issuer.claims(now=NOW))
    result = inspect(token, issuer, cache)
    text = json.dumps(result.to_dict())
    assert token not in text
    assert token.split(".")[2] not in text  # not even the signature
    assert json.loads(text)["valid"] is True


def test_known_claims_have_one_line_explanations():
    for name in ("iss", "sub", "aud", "exp", "scope", "wlcg.ver", "wlcg.groups", "act", "azp"):
        assert explain_claim(name)
    assert all("\n" not in info.explanation for info in KNOWN_CLAIMS.values())
    assert explain_claim("x-unknown") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://Storage.Example.ORG:443/", "https://storage.example.org"),
        ("http://se.example.org:80", "http://se.example.org"),
        ("https://se.example.org:8443/", "https://se.example.org:8443"),
        ("https://se.example.org/%7evo/", "https://se.example.org/~vo"),
        ("https://se.example.org/a%2fb", "https://se.example.org/a%2Fb"),
        ("rucio", "rucio"),
    ],
)
def test_audience_normalisation(raw, expected):
    assert normalise_audience(raw) == expected
