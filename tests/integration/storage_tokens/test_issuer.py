"""Gatehouse as a storage-token issuer, verified from outside: discovery and JWKS fetched from the
live server, tokens checked with PyJWT and with Gatehouse's own inspector, keys rotated."""

import json
import uuid
from datetime import timedelta

import jwt
import pytest
import requests

from tests.integration.storage_tokens.conftest import embargoed_campaign
from tokens.inspect import inspect
from tokens.issuer.keys import issuer_key_retire, jwks_document, published_keys
from tokens.models import IssuedToken, IssuerKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def nightsky(pi, member, admin):
    return embargoed_campaign(admin=admin, pi=pi, members=[member])


@pytest.fixture
def dcache(gatehouse_issuer):
    return gatehouse_issuer.storage_element(
        "dcache", audience="https://dcache.example.org", base_path="/data"
    )


def verify_from_discovery(issuer_url: str, token: str, audience: str) -> dict:
    """What a relying party does: discovery -> jwks_uri -> key by kid -> verify."""
    document = requests.get(f"{issuer_url}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == issuer_url
    keys = jwt.PyJWKClient(document["jwks_uri"], cache_keys=False)
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=["ES256", "RS256"],
        audience=audience,
        issuer=issuer_url,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )


def test_discovery_documents_name_the_issuer_exactly(gatehouse_issuer):
    for path in ("openid-configuration", "oauth-authorization-server"):
        response = requests.get(f"{gatehouse_issuer.url}/.well-known/{path}", timeout=10)
        assert response.status_code == 200
        assert "public" in response.headers["Cache-Control"]
        document = response.json()
        assert document["issuer"] == gatehouse_issuer.url
        assert not document["issuer"].endswith("/")
        assert document["jwks_uri"] == gatehouse_issuer.jwks_uri
        assert document["token_endpoint"] == gatehouse_issuer.token_endpoint
        assert (
            "urn:ietf:params:oauth:grant-type:token-exchange" in document["grant_types_supported"]
        )
        assert "client_credentials" in document["grant_types_supported"]


def test_jwks_is_public_cacheable_and_holds_no_private_key(gatehouse_issuer):
    response = requests.get(gatehouse_issuer.jwks_uri, timeout=10)
    assert response.status_code == 200
    assert "public" in response.headers["Cache-Control"]
    assert "max-age" in response.headers["Cache-Control"]
    keys = response.json()["keys"]
    # The active key and, published from the start, the next one.
    assert {key["kid"] for key in keys} == set(IssuerKey.objects.values_list("kid", flat=True))
    assert sorted(IssuerKey.objects.values_list("state", flat=True)) == ["active", "next"]
    for key in keys:
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
        assert "d" not in key
    for key in IssuerKey.objects.all():
        assert key.private_key.startswith("-----BEGIN PRIVATE KEY-----")


def test_private_key_is_encrypted_in_the_database(gatehouse_issuer):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM tokens_issuerkey")
        (raw,) = cursor.fetchone()
    assert "PRIVATE KEY" not in raw
    assert raw.startswith("gAAAA")  # Fernet


def test_issued_token_verifies_with_pyjwt_through_discovery(
    gatehouse_issuer, dcache, member, nightsky
):
    token = gatehouse_issuer.issue(
        account=member, storage_element=dcache, scopes="storage.read:/nightsky/run1/f.fits"
    )
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert header["kid"] == IssuerKey.objects.get(state="active").kid
    claims = verify_from_discovery(gatehouse_issuer.url, token, "https://dcache.example.org")
    member.refresh_from_db()
    assert claims["sub"] == str(member.token_subject)
    assert uuid.UUID(claims["sub"]) and claims["sub"] != member.email
    assert claims["wlcg.ver"] == "1.0"
    assert claims["scope"] == "storage.read:/nightsky/run1/f.fits"
    assert claims["client_id"] == "gatehouse"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 6 * 3600  # this element's lifetime
    record = IssuedToken.objects.get(jti=claims["jti"])
    assert record.account == member and record.storage_element == dcache
    assert token not in json.dumps(list(IssuedToken.objects.values()), default=str)


def test_token_signed_just_before_rotation_still_verifies_after_it(
    gatehouse_issuer, dcache, member, nightsky
):
    before = gatehouse_issuer.issue(
        account=member, storage_element=dcache, scopes="storage.read:/nightsky"
    )
    old_kid = jwt.get_unverified_header(before)["kid"]
    gatehouse_issuer.rotate()
    after = gatehouse_issuer.issue(
        account=member, storage_element=dcache, scopes="storage.read:/nightsky"
    )
    new_kid = jwt.get_unverified_header(after)["kid"]
    assert new_kid != old_kid
    for token in (before, after):
        claims = verify_from_discovery(gatehouse_issuer.url, token, "https://dcache.example.org")
        assert claims["scope"] == "storage.read:/nightsky"
    states = {key.kid: key.state for key in IssuerKey.objects.all()}
    assert states[old_kid] == "retired" and states[new_kid] == "active"
    assert sorted(states.values()) == ["active", "next", "retired"]
    published = {
        key["kid"] for key in requests.get(gatehouse_issuer.jwks_uri, timeout=10).json()["keys"]
    }
    assert published == set(states)


def test_retired_key_leaves_the_jwks_after_its_tokens_expire_plus_the_cache_time(
    gatehouse_issuer, dcache, settings
):
    old = IssuerKey.objects.get(state="active")
    gatehouse_issuer.rotate()
    old.refresh_from_db()
    assert old.last_expiry >= old.retired + timedelta(hours=6)
    grace = timedelta(seconds=settings.GATEHOUSE_ISSUER_KEY_CACHE)
    still = old.last_expiry + grace - timedelta(seconds=1)
    gone = old.last_expiry + grace + timedelta(seconds=1)
    assert old.kid in {key["kid"] for key in jwks_document(at=still)["keys"]}
    assert old.kid not in {key["kid"] for key in jwks_document(at=gone)["keys"]}
    assert {key.state for key in published_keys(at=gone)} == {"active", "next"}


def test_leaked_key_can_be_withdrawn_at_once(gatehouse_issuer, dcache):
    old = IssuerKey.objects.get(state="active")
    gatehouse_issuer.rotate()
    issuer_key_retire(kid=old.kid, now=True)
    assert old.kid not in {key["kid"] for key in jwks_document()["keys"]}
    active = IssuerKey.objects.get(state="active")
    with pytest.raises(ValueError, match="rotate"):
        issuer_key_retire(kid=active.kid)


def test_rs256_keys_sign_verifiable_tokens_too(gatehouse_issuer, dcache, member, nightsky):
    from tokens.issuer.keys import issuer_key_create, issuer_key_rotate

    IssuerKey.objects.filter(state="next").delete()
    issuer_key_create(alg="RS256")
    gatehouse_issuer.let_storage_cache_the_next_key()
    issuer_key_rotate()
    token = gatehouse_issuer.issue(
        account=member, storage_element=dcache, scopes="storage.read:/nightsky"
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert verify_from_discovery(gatehouse_issuer.url, token, "https://dcache.example.org")


@pytest.fixture
def close_inspector_connections():
    """The inspector's key fetcher keeps its HTTP connection to the live server alive; close it,
    or the server thread serving it keeps a database session past the test."""
    from accounts.idps import key_source

    yield
    key_source()._session.close()


def test_gatehouse_inspector_accepts_and_explains_its_own_tokens(
    gatehouse_issuer, dcache, member, nightsky, settings, close_inspector_connections
):
    settings.GATEHOUSE_EXTRA_ISSUERS = json.dumps(
        [{"issuer": gatehouse_issuer.url, "name": "Gatehouse", "storage_base_path": "/"}]
    )
    token = gatehouse_issuer.issue(
        account=member, storage_element=dcache, scopes="storage.read:/nightsky/run1"
    )
    report = inspect(token, target="se:dcache")
    assert report.inspection.valid, [c.explanation for c in report.inspection.checks]
    assert report.inspection.check("signature").status == "pass"
    assert report.inspection.check("aud").status == "pass"
    # Scopes are relative to the element's base path for Gatehouse's issuer (/data).
    assert report.capabilities.may("read", "/data/nightsky/run1/f.fits").allowed
    assert not report.capabilities.may("read", "/data/nightsky/run2/f.fits").allowed
    assert not report.capabilities.may("create", "/data/nightsky/run1/new").allowed
    assert report.inspection.to_dict()["jti"]
