"""Security cases of the token inspector, one per test, against a real loopback issuer."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.harness.jwks_server import LoopbackIssuer, LoopbackJsonServer, public_jwk, rsa_key
from tokens.inspection import JwksCache, Status, TrustedIssuer, inspect_token

NOW = time.time()
STORAGE = "https://storage.example.org"


@pytest.fixture(scope="module")
def issuer():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture(scope="module")
def attacker_key():
    return rsa_key()


@pytest.fixture
def attacker_server():
    with LoopbackJsonServer() as server:
        yield server


@pytest.fixture
def trusted(issuer):
    return [TrustedIssuer(issuer.issuer, storage_base_path="/vo")]


def inspect(raw, issuer, **kwargs):
    kwargs.setdefault("audience", STORAGE)
    return inspect_token(
        raw, issuers=[TrustedIssuer(issuer.issuer)], jwks=JwksCache(), now=NOW, **kwargs
    )


def b64(data) -> str:
    if not isinstance(data, bytes):
        data = json.dumps(data).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rs256_by_hand(private_key, header_b64: str, claims_b64: str) -> str:
    signing_input = f"{header_b64}.{claims_b64}".encode()
    signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header_b64}.{claims_b64}.{b64(signature)}"


def failed(inspection, check_id):
    return Status.FAIL in inspection.statuses(check_id)


def test_alg_none_is_refused(issuer):
    header = b64({"alg": "none", "typ": "JWT", "kid": "rsa1"})
    result = inspect(f"{header}.{b64(issuer.claims(now=NOW))}.", issuer)
    assert not result.valid
    assert failed(result, "alg")
    assert "not signed" in result.check("alg").explanation
    assert failed(result, "signature")


def test_hs256_signed_with_the_issuers_public_key_is_refused(issuer):
    public_pem = (
        issuer.private_keys["rsa1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'rsa1'})}.{b64(issuer.claims(now=NOW))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    result = inspect(f"{signing_input}.{b64(mac)}", issuer)
    assert not result.valid
    assert failed(result, "alg")
    assert "HMAC" in result.check("alg").explanation
    assert result.check("signature").status is Status.FAIL


def test_unknown_kid_is_refused(issuer, attacker_key):
    token = issuer.sign(issuer.claims(now=NOW), kid="rogue", key=attacker_key)
    result = inspect(token, issuer)
    assert not result.valid
    assert (
        "'rogue' is not among the issuer's published keys" in result.check("signature").explanation
    )


def test_jku_header_is_never_followed(issuer, attacker_key, attacker_server):
    attacker_server.documents["/jwks"] = {"keys": [public_jwk(attacker_key, "rsa1")]}
    token = issuer.sign(
        issuer.claims(now=NOW),
        key=attacker_key,
        headers={"jku": attacker_server.base_url + "/jwks"},
    )
    result = inspect(token, issuer)
    assert not result.valid
    assert failed(result, "signature")
    assert result.check("key_headers").status is Status.WARN
    assert attacker_server.total_requests == 0


def test_x5u_header_is_never_followed(issuer, attacker_key, attacker_server):
    attacker_server.documents["/cert.pem"] = {"not": "fetched"}
    token = issuer.sign(
        issuer.claims(now=NOW),
        key=attacker_key,
        headers={"x5u": attacker_server.base_url + "/cert.pem"},
    )
    result = inspect(token, issuer)
    assert not result.valid
    assert failed(result, "signature")
    assert attacker_server.total_requests == 0


def test_embedded_jwk_header_is_never_used(issuer, attacker_key):
    token = issuer.sign(
        issuer.claims(now=NOW), key=attacker_key, headers={"jwk": public_jwk(attacker_key, "rsa1")}
    )
    result = inspect(token, issuer)
    assert not result.valid
    assert "signed by someone else" in result.check("signature").explanation
    assert "never from the token itself" in result.check("key_headers").explanation


def test_kid_is_never_used_as_a_path(issuer):
    token = issuer.sign(issuer.claims(now=NOW), kid="rsa1")
    header, claims, signature = token.split(".")
    path_header = b64({"alg": "RS256", "kid": "../../jwks"})
    result = inspect(f"{path_header}.{claims}.{signature}", issuer)
    assert not result.valid
    assert issuer.requests["/jwks"] >= 1
    assert set(issuer.requests) <= {"/jwks", "/.well-known/openid-configuration"}


def test_signature_by_a_different_key_is_refused(issuer, attacker_key):
    token = issuer.sign(issuer.claims(now=NOW), kid="rsa1", key=attacker_key)
    result = inspect(token, issuer)
    assert not result.valid
    assert "does not match the issuer's key 'rsa1'" in result.check("signature").explanation


def test_tampered_claims_fail_the_signature(issuer):
    header, _claims, signature = issuer.sign(issuer.claims(now=NOW)).split(".")
    forged = b64(issuer.claims(now=NOW, scope="storage.modify:/"))
    result = inspect(f"{header}.{forged}.{signature}", issuer)
    assert failed(result, "signature")


def test_expired_token_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW - 7200))
    result = inspect(token, issuer)
    assert not result.valid
    assert result.check("exp").status is Status.FAIL
    assert "Expired" in result.check("exp").explanation


def test_nbf_in_the_future_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, nbf=int(NOW) + 600))
    result = inspect(token, issuer)
    assert not result.valid
    assert result.check("nbf").status is Status.FAIL


def test_nbf_within_leeway_is_accepted(issuer):
    token = issuer.sign(issuer.claims(now=NOW, nbf=int(NOW) + 30))
    assert inspect(token, issuer).check("nbf").status is Status.PASS


def test_iat_in_the_future_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, iat=int(NOW) + 600))
    result = inspect(token, issuer)
    assert not result.valid
    assert "future" in result.check("iat").explanation


def test_untrusted_issuer_is_refused_and_never_contacted():
    with LoopbackIssuer() as stranger, LoopbackIssuer() as trusted_server:
        token = stranger.sign(stranger.claims(now=NOW))
        result = inspect(token, trusted_server)
        assert not result.valid
        assert "is not trusted" in result.check("iss").explanation
        assert failed(result, "signature")
        assert stranger.total_requests == 0
        assert trusted_server.total_requests == 0


def test_issuer_differing_by_a_trailing_slash_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, iss=issuer.issuer + "/"))
    result = inspect(token, issuer)
    assert not result.valid
    assert "only by a trailing slash" in result.check("iss").explanation


def test_audience_mismatch_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, aud="https://other.example.org"))
    result = inspect(token, issuer, audience="https://storage.example.org")
    assert not result.valid
    assert result.check("aud").status is Status.FAIL


def test_audience_wildcard_is_a_warning(issuer):
    token = issuer.sign(issuer.claims(now=NOW, aud="https://wlcg.cern.ch/jwt/v1/any"))
    result = inspect(token, issuer)
    assert result.check("aud").status is Status.WARN
    assert result.valid


def test_missing_required_wlcg_claim_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, jti=None))
    result = inspect(token, issuer)
    assert not result.valid
    assert "jti" in result.check("wlcg").explanation


def test_wlcg_version_2_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, **{"wlcg.ver": "2.0"}))
    result = inspect(token, issuer)
    assert not result.valid
    assert "not supported" in result.check("wlcg").explanation


def test_storage_scope_without_path_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read storage.create:/data"))
    result = inspect(token, issuer)
    assert not result.valid
    assert "has no path" in result.check("capabilities").explanation
    assert not result.capabilities.may("create", "/data/x").allowed


def test_john_never_covers_johnathan(issuer):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read:/home/john"))
    caps = inspect(token, issuer).capabilities
    assert caps.may("read", "/home/john/file").allowed
    assert caps.may("read", "/home/john").allowed
    assert not caps.may("read", "/home/johnathan/file").allowed
    assert not caps.may("read", "/home/johnathan").allowed


def test_dot_dot_in_a_scope_refuses_the_token(issuer):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read:/data/../secret"))
    result = inspect(token, issuer)
    assert not result.valid
    assert "'..' segment" in result.check("capabilities").explanation


def test_dot_dot_in_a_requested_path_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read:/data"))
    decision = inspect(token, issuer).capabilities.may("read", "/data/../secret")
    assert not decision.allowed
    assert "'..' segment" in decision.rule


@pytest.mark.parametrize("path", ["/data/%2e%2e/secret", "/data/%2E%2e/secret", "/data%2fsecret"])
def test_percent_encoded_traversal_is_refused(issuer, path):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read:/data"))
    decision = inspect(token, issuer).capabilities.may("read", path)
    assert not decision.allowed
    assert "percent-encoded" in decision.rule


def test_percent_encoded_traversal_in_a_scope_refuses_the_token(issuer):
    token = issuer.sign(issuer.claims(now=NOW, scope="storage.read:/data/%2e%2e/secret"))
    result = inspect(token, issuer)
    assert not result.valid
    assert "percent-encoded" in result.check("capabilities").explanation


def test_oversized_token_is_refused_before_parsing(issuer):
    claims = issuer.claims(now=NOW, padding="x" * 17_000)
    token = issuer.sign(claims)
    assert len(token) > 16 * 1024
    before = issuer.total_requests
    result = inspect(token, issuer)
    assert not result.valid
    assert [check.id for check in result.checks] == ["size"]
    assert result.header is None and result.claims is None
    assert issuer.total_requests == before


def test_not_a_jwt_is_refused(issuer):
    result = inspect("this is not a token", issuer)
    assert not result.valid
    assert "not a JWT" in result.check("structure").explanation


def test_malformed_base64_is_refused(issuer):
    _header, claims, signature = issuer.sign(issuer.claims(now=NOW)).split(".")
    result = inspect(f"eyJhbGciOi!JSUzI1NiJ9.{claims}.{signature}", issuer)
    assert not result.valid
    assert "not base64url" in result.check("structure").explanation
    assert result.claims is not None  # the readable part is still shown


def test_json_that_is_not_an_object_is_refused(issuer):
    result = inspect(f"{b64({'alg': 'RS256', 'kid': 'rsa1'})}.{b64([1, 2, 3])}.c2ln", issuer)
    assert not result.valid
    assert "not an object" in result.check("structure").explanation


def test_duplicate_claims_are_refused_even_when_genuinely_signed(issuer):
    claims = json.dumps(issuer.claims(now=NOW))[:-1] + ', "sub": "someone-else"}'
    token = rs256_by_hand(
        issuer.private_keys["rsa1"], b64({"alg": "RS256", "kid": "rsa1"}), b64(claims.encode())
    )
    result = inspect(token, issuer)
    assert not result.valid
    assert "'sub' twice" in result.check("structure").explanation


def test_duplicate_header_parameters_are_refused(issuer):
    header = b'{"alg": "RS256", "kid": "rsa1", "alg": "none"}'
    token = rs256_by_hand(issuer.private_keys["rsa1"], b64(header), b64(issuer.claims(now=NOW)))
    result = inspect(token, issuer)
    assert not result.valid
    assert "'alg' twice" in result.check("structure").explanation


def test_crit_header_is_refused(issuer):
    token = issuer.sign(issuer.claims(now=NOW), headers={"crit": ["exp"], "exp": 1})
    result = inspect(token, issuer)
    assert not result.valid
    assert result.check("crit").status is Status.FAIL


def test_key_type_must_match_the_algorithm(issuer):
    header = b64({"alg": "ES256", "kid": "rsa1"})
    _h, claims, signature = issuer.sign(issuer.claims(now=NOW)).split(".")
    result = inspect(f"{header}.{claims}.{signature}", issuer)
    assert not result.valid
    assert "needs an EC key" in result.check("signature").explanation


def test_non_canonical_base64_spelling_is_refused(issuer):
    header, claims, signature = issuer.sign(issuer.claims(now=NOW)).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 256-byte RSA signature: the last base64 character carries 4 unused bits.
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    result = inspect(f"{header}.{claims}.{respelled}", issuer)
    assert not result.valid
    assert "canonical" in result.check("structure").explanation


@pytest.mark.parametrize("case", ["valid", "other_key", "tampered"])
def test_signature_verdict_agrees_with_pyjwt_decode(issuer, attacker_key, case):
    key = attacker_key if case == "other_key" else None
    token = issuer.sign(issuer.claims(now=NOW), key=key)
    if case == "tampered":
        header, _claims, signature = token.split(".")
        token = f"{header}.{b64(issuer.claims(now=NOW, sub='x'))}.{signature}"
    public = issuer.private_keys["rsa1"].public_key()
    try:
        jwt.PyJWS().decode_complete(token, key=public, algorithms=["RS256"])
        pyjwt_ok = True
    except jwt.InvalidSignatureError:
        pyjwt_ok = False
    ours = inspect(token, issuer).check("signature").status is Status.PASS
    assert ours == pyjwt_ok == (case == "valid")
