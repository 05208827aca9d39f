"""The token endpoint under attack and in normal use: RFC 8693 exchange of a person's access
token from the real dev OpenID provider (tests/harness/idp.py), confidential clients acting for
people, and client_credentials for a client's own service account.

Subject tokens come from the dev IdP's real code flow where the case allows; expired and
`act`-carrying ones are signed by a second real loopback issuer (tests/harness/jwks_server.py),
because the dev IdP cannot be asked for an expired token or an `act` claim.
"""

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
import requests
from django.test import Client
from django.utils import timezone

from accounts.identities import oidc_identity
from accounts.models import Account, AuditEvent, Identity
from accounts.services import account_create, account_suspend, identity_add
from campaigns import services as campaign_services
from tests.harness.idp import start_idp
from tests.harness.idpsecrets import use_idpsecrets
from tests.harness.jwks_server import LoopbackIssuer
from tests.integration.storage_tokens.conftest import embargoed_campaign
from tests.integration.test_devidp import SCIM, USERS, WEB, sign_in
from tokens.issuer.keys import issuer_key_create
from tokens.issuer.services import oauth_client_create, oauth_client_secret_reset
from tokens.models import IssuedToken, OAuthClient, StorageElement

pytestmark = pytest.mark.django_db

GATEHOUSE_AUDIENCE = "https://gatehouse.example.org"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
URL = "/oauth/token"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("idp-exchange"),
        clients=[WEB, SCIM],
        users=USERS,
        display_name="Dev IAM",
        token_audience=GATEHOUSE_AUDIENCE,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def alice_token(idp) -> str:
    return sign_in(idp)[0]["access_token"]


@pytest.fixture(scope="module")
def bob_token(idp) -> str:
    return sign_in(idp, username="bob", password="bob-pw")[0]["access_token"]


@pytest.fixture(scope="module")
def scim_token(idp) -> str:
    """A real token of the trusted issuer, but for its SCIM API, not for Gatehouse."""
    response = requests.post(
        idp.discovery()["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "scim:read"},
        auth=(SCIM["client_id"], SCIM["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture(scope="module")
def loop():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture(scope="module")
def untrusted():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture
def world(settings, tmp_path, idp, loop, admin, pi, member, outsider):
    settings.SITE_URL = "https://gatehouse.example.org"
    settings.GATEHOUSE_ISSUER_AUDIENCE = GATEHOUSE_AUDIENCE
    use_idpsecrets(
        settings,
        tmp_path / "idpsecrets.json",
        {
            "dev": {"issuer": idp.issuer, "client_id": "x", "client_secret": "y"},
            "loop": {"issuer": loop.issuer, "client_id": "x", "client_secret": "y"},
        },
    )
    issuer_key_create()
    embargoed_campaign(admin=admin, pi=pi, members=[member])
    for account, sub, issuer in (
        (member, "5d0c6e0a-alice", idp.issuer),
        (outsider, "77b1f3c2-bob", idp.issuer),
        (member, "loop-member", loop.issuer),
    ):
        identity_add(
            account=account,
            type=Identity.Type.OIDC,
            identity=oidc_identity(sub=sub, issuer=issuer),
            actor=None,
        )
    dcache = StorageElement.objects.create(
        name="dcache", audiences=["https://dcache.example.org"], base_path="/data"
    )
    StorageElement.objects.create(
        name="xrootd", audiences=["https://xrootd.example.org"], base_path="/data"
    )
    rucio, rucio_secret = oauth_client_create(
        client_id="rucio",
        grants=[EXCHANGE],
        audiences=["dcache"],
        path_prefixes=["/nightsky"],
        may_act_for_users=True,
    )
    fts, fts_secret = oauth_client_create(
        client_id="fts", grants=[EXCHANGE], audiences=["xrootd"], path_prefixes=["/"]
    )
    deleter_account = account_create(name="svc-deleter", type=Account.Type.SERVICE)
    deleter, deleter_secret = oauth_client_create(
        client_id="deleter",
        grants=["client_credentials"],
        audiences=["dcache"],
        path_prefixes=["/nightsky/trash"],
        operations=["modify"],
        service_account=deleter_account,
    )
    return {
        "dcache": dcache,
        "secrets": {"rucio": rucio_secret, "fts": fts_secret, "deleter": deleter_secret},
        "deleter": deleter,
    }


def post(data: dict, *, auth: tuple[str, str] | None = None, ip: str = "192.0.2.7"):
    headers = {}
    if auth:
        pair = f"{auth[0]}:{auth[1]}".encode()
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(pair).decode()
    client = Client(enforce_csrf_checks=True)  # machines send no CSRF token
    return client.post(URL, data, REMOTE_ADDR=ip, **headers)


def exchange(subject_token: str, **extra) -> dict:
    return {
        "grant_type": EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN,
        "audience": "dcache",
        "scope": "storage.read:/nightsky",
        **extra,
    }


def claims_of(response) -> dict:
    return jwt.decode(response.json()["access_token"], options={"verify_signature": False})


def refused(response, error: str, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    assert "access_token" not in body
    return body


def last_refusal() -> AuditEvent:
    return AuditEvent.objects.filter(action="storage_token.refuse").latest("pk")


def test_member_exchanges_an_idp_token_for_a_storage_token(world, alice_token, member):
    response = post(exchange(alice_token, scope="storage.read:/nightsky/run1/f.fits"))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == ACCESS_TOKEN
    assert body["expires_in"] == 20 * 60
    claims = claims_of(response)
    member.refresh_from_db()
    assert claims["iss"] == "https://gatehouse.example.org"
    assert claims["sub"] == str(member.token_subject)
    assert claims["aud"] == "https://dcache.example.org"
    assert claims["scope"] == "storage.read:/nightsky/run1/f.fits"
    assert claims["client_id"] == "gatehouse"
    assert "act" not in claims
    event = AuditEvent.objects.get(action="storage_token.issue")
    assert event.account == member and event.ip == "192.0.2.7"
    assert event.detail["jti"] == claims["jti"]
    assert event.detail["storage_element"] == "dcache"
    assert event.detail["scopes"] == claims["scope"]
    assert IssuedToken.objects.get(jti=claims["jti"]).way == "exchange"


def _statements(captured) -> list[str]:
    return [q["sql"].split(None, 1)[0].upper() for q in captured.captured_queries]


def test_issuance_reads_four_rows_and_writes_two_however_large_the_site(
    world, alice_token, admin, pi, django_assert_max_num_queries
):
    """The identity's account, the storage element, the campaigns covering the path and the
    account's membership; then the IssuedToken and the audit event, whatever the data size."""
    post(exchange(alice_token))  # warm the process's caches (providers, keys, campaign paths)

    def issue() -> list[str]:
        with django_assert_max_num_queries(10) as captured:
            response = post(exchange(alice_token, scope="storage.read:/nightsky/run1/f.fits"))
        assert response.status_code == 200, response.content
        return _statements(captured)

    small = issue()
    assert small.count("SELECT") == 4, small
    assert small.count("INSERT") == 2, small
    for index in range(30):
        campaign = campaign_services.campaign_create(
            slug=f"grow{index}",
            title=f"Grow {index}",
            pi=pi,
            actor=admin,
            data_paths=[f"/data/grow{index:02d}", f"/archive/grow{index:02d}"],
            embargo_until=timezone.localdate() + timedelta(days=30),
        )
        person = account_create(name=f"grow{index}")
        identity_add(
            account=person,
            type=Identity.Type.OIDC,
            identity=oidc_identity(sub=f"grow-{index}", issuer="https://idp.example.org"),
            actor=None,
        )
        asked = campaign_services.membership_request(campaign=campaign, account=person)
        campaign_services.membership_approve(membership=asked, actor=pi)
    issue()  # the saves above cleared the process's list of campaign paths: read again once
    assert issue() == small

    # A registered client adds its own row, nothing else.
    with django_assert_max_num_queries(11) as captured:
        response = post(
            exchange(alice_token, scope="storage.read:/nightsky/run1/f.fits"),
            auth=("rucio", world["secrets"]["rucio"]),
        )
    assert response.status_code == 200, response.content
    assert _statements(captured).count("SELECT") == 5


def test_a_shorter_lifetime_may_be_asked_for(world, alice_token):
    response = post(exchange(alice_token, lifetime="300"))
    assert response.json()["expires_in"] == 300
    claims = claims_of(response)
    assert claims["exp"] - claims["iat"] == 300
    refused(post(exchange(alice_token, lifetime="7200")), "invalid_request")


def test_subject_token_from_an_untrusted_issuer_is_refused(world, untrusted, member):
    token = untrusted.sign(untrusted.claims(sub="loop-member", aud=GATEHOUSE_AUDIENCE))
    body = refused(post(exchange(token)), "invalid_request")
    assert "not an identity provider Gatehouse trusts" in body["error_description"]
    assert last_refusal().detail["rule"] == "subject-untrusted-issuer"


def test_expired_subject_token_is_refused(world, loop):
    past = time.time() - 3600
    token = loop.sign(loop.claims(now=past, sub="loop-member", aud=GATEHOUSE_AUDIENCE))
    body = refused(post(exchange(token)), "invalid_request")
    assert "expired" in body["error_description"].lower()
    assert last_refusal().detail["rule"] == "subject-exp"


def test_subject_token_for_another_audience_is_refused(world, scim_token):
    body = refused(post(exchange(scim_token)), "invalid_request")
    assert GATEHOUSE_AUDIENCE in body["error_description"]
    assert last_refusal().detail["rule"] == "subject-aud"


def test_wildcard_audience_is_not_enough(world, loop):
    token = loop.sign(loop.claims(sub="loop-member", aud="https://wlcg.cern.ch/jwt/v1/any"))
    refused(post(exchange(token)), "invalid_request")
    assert last_refusal().detail["rule"] == "subject-aud"


def test_forged_subject_token_is_refused(world, alice_token):
    header, payload, signature = alice_token.split(".")
    claims = jwt.decode(alice_token, options={"verify_signature": False})
    claims["sub"] = "77b1f3c2-bob"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(post(exchange(f"{header}.{forged_payload}.{signature}")), "invalid_request")
    assert last_refusal().detail["rule"] == "subject-signature"


def test_suspended_account_is_refused(world, alice_token, member, admin):
    account_suspend(account=member, actor=admin, reason="left")
    body = refused(post(exchange(alice_token)), "access_denied")
    assert "suspended" in body["error_description"]
    assert last_refusal().detail["rule"] == "account-inactive"


def test_non_member_is_refused_with_the_rule(world, bob_token, outsider):
    body = refused(post(exchange(bob_token)), "access_denied")
    assert "nightsky" in body["error_description"]
    event = last_refusal()
    assert event.detail["rule"] == "embargo-not-member"
    assert event.account == outsider
    assert event.detail["scopes"] == "storage.read:/nightsky"


def test_unknown_person_is_refused(world, loop):
    token = loop.sign(loop.claims(sub="nobody-here", aud=GATEHOUSE_AUDIENCE))
    refused(post(exchange(token)), "access_denied")
    assert last_refusal().detail["rule"] == "subject-unknown"


@pytest.mark.parametrize(
    ("scope", "error", "rule"),
    [
        ("storage.create:/nightsky/new", "access_denied", "writers-only"),
        ("storage.read:/", "access_denied", "no-campaign"),
        ("storage.read:/nightsky/../other", "invalid_scope", "path-unsafe"),
        ("storage.read:/nightsky storage.modify:/nightsky", "access_denied", "writers-only"),
        ("openid offline_access", "invalid_scope", "scope-syntax"),
        ("", "invalid_scope", "scope-missing"),
    ],
)
def test_scope_widening_is_refused(world, alice_token, scope, error, rule):
    refused(post(exchange(alice_token, scope=scope)), error)
    assert last_refusal().detail["rule"] == rule


def test_one_storage_element_per_token(world, alice_token):
    refused(post(exchange(alice_token, audience="nowhere")), "invalid_target")
    data = exchange(alice_token)
    data["audience"] = ["dcache", "xrootd"]
    refused(post(data), "invalid_target")
    del data["audience"]
    refused(post(data), "invalid_target")
    assert post(exchange(alice_token, audience="https://dcache.example.org")).status_code == 200


def test_client_acting_for_a_person_gets_an_act_claim(world, alice_token, member):
    response = post(exchange(alice_token), auth=("rucio", world["secrets"]["rucio"]))
    assert response.status_code == 200, response.content
    claims = claims_of(response)
    member.refresh_from_db()
    assert claims["sub"] == str(member.token_subject)
    assert claims["act"] == {"sub": "rucio"}
    assert claims["client_id"] == "rucio"
    event = AuditEvent.objects.get(action="storage_token.issue")
    assert event.detail["client"] == "rucio" and event.account == member


def test_act_nests_when_the_subject_token_already_had_one(world, loop):
    token = loop.sign(
        loop.claims(sub="loop-member", aud=GATEHOUSE_AUDIENCE, act={"sub": "fts-upstream"})
    )
    response = post(exchange(token), auth=("rucio", world["secrets"]["rucio"]))
    assert response.status_code == 200, response.content
    assert claims_of(response)["act"] == {"sub": "rucio", "act": {"sub": "fts-upstream"}}
    public = post(exchange(token))  # no client: the issuer-signed chain is kept, not extended
    assert claims_of(public)["act"] == {"sub": "fts-upstream"}


def test_act_cannot_be_forged(world, alice_token):
    # An actor_token is not how an actor is named here: client authentication is.
    refused(
        post(exchange(alice_token, actor_token="x", actor_token_type=ACCESS_TOKEN)),
        "invalid_request",
    )
    # Naming a client without its secret is not authentication.
    refused(post(exchange(alice_token, client_id="rucio")), "invalid_client", 401)
    # A client that may not act for people cannot.
    refused(
        post(exchange(alice_token, audience="xrootd"), auth=("fts", world["secrets"]["fts"])),
        "unauthorized_client",
    )
    assert not IssuedToken.objects.exists()


def test_client_cannot_use_another_clients_audience_or_paths(world, alice_token):
    rucio = ("rucio", world["secrets"]["rucio"])
    refused(post(exchange(alice_token, audience="xrootd"), auth=rucio), "invalid_target")
    assert last_refusal().detail["rule"] == "client-audience"
    refused(post(exchange(alice_token, scope="storage.read:/oldsky"), auth=rucio), "invalid_scope")
    assert last_refusal().detail["rule"] == "client-prefix"
    assert last_refusal().detail["client"] == "rucio"


def test_wrong_and_replayed_client_secrets_are_refused(world, alice_token):
    refused(post(exchange(alice_token), auth=("rucio", "guess")), "invalid_client", 401)
    refused(
        post(exchange(alice_token), auth=("fts", world["secrets"]["rucio"])), "invalid_client", 401
    )
    old = world["secrets"]["rucio"]
    new = oauth_client_secret_reset(client=OAuthClient.objects.get(client_id="rucio"))
    response = post(exchange(alice_token), auth=("rucio", old))
    refused(response, "invalid_client", 401)
    assert response["WWW-Authenticate"].startswith("Basic")
    assert post(exchange(alice_token), auth=("rucio", new)).status_code == 200
    body_auth = post(exchange(alice_token, client_id="rucio", client_secret=new))
    assert body_auth.status_code == 200
    stored = OAuthClient.objects.get(client_id="rucio").secret_hash
    assert new not in stored and stored.startswith("sha256$")


def test_a_disabled_client_is_refused(world, alice_token):
    OAuthClient.objects.filter(client_id="rucio").update(enabled=False)
    refused(
        post(exchange(alice_token), auth=("rucio", world["secrets"]["rucio"])),
        "invalid_client",
        401,
    )


def test_client_credentials_within_the_clients_prefixes(world):
    deleter = ("deleter", world["secrets"]["deleter"])
    data = {"grant_type": "client_credentials", "audience": "dcache"}
    response = post({**data, "scope": "storage.modify:/nightsky/trash/f1"}, auth=deleter)
    assert response.status_code == 200, response.content
    claims = claims_of(response)
    service = Account.objects.get(name="svc-deleter")
    assert claims["sub"] == str(service.token_subject)
    assert claims["client_id"] == "deleter" and "act" not in claims
    refused(post({**data, "scope": "storage.modify:/nightsky/run1"}, auth=deleter), "invalid_scope")
    refused(post({**data, "scope": "storage.read:/nightsky/trash"}, auth=deleter), "invalid_scope")
    assert last_refusal().detail["rule"] == "client-operation"
    refused(post({**data, "scope": "storage.modify:/nightsky/trash"}), "invalid_client", 401)
    rucio = ("rucio", world["secrets"]["rucio"])
    refused(post({**data, "scope": "storage.read:/nightsky"}, auth=rucio), "unauthorized_client")


def test_protocol_errors_are_json(world, alice_token):
    response = Client().get(URL)
    assert response.status_code == 405 and response.json()["error"] == "invalid_request"
    refused(post({"grant_type": "password"}), "unsupported_grant_type")
    refused(post({"grant_type": EXCHANGE}), "invalid_request")
    refused(post(exchange(alice_token, subject_token_type="urn:x")), "invalid_request")
    data = exchange(alice_token)
    data["scope"] = ["storage.read:/nightsky", "storage.read:/nightsky/a"]
    refused(post(data), "invalid_request")


def test_rate_limit_per_account(world, alice_token, settings):
    settings.GATEHOUSE_ISSUER_RATE_ACCOUNT = 2
    assert post(exchange(alice_token)).status_code == 200
    assert post(exchange(alice_token)).status_code == 200
    response = post(exchange(alice_token))
    refused(response, "slow_down", 429)
    assert response["Retry-After"] == "60"
    assert last_refusal().detail["rule"] == "rate-limit-account"


def test_rate_limit_per_client(world, settings):
    settings.GATEHOUSE_ISSUER_RATE_CLIENT = 1
    deleter = ("deleter", world["secrets"]["deleter"])
    data = {
        "grant_type": "client_credentials",
        "audience": "dcache",
        "scope": "storage.modify:/nightsky/trash",
    }
    assert post(data, auth=deleter).status_code == 200
    refused(post(data, auth=deleter), "slow_down", 429)
    assert last_refusal().detail["rule"] == "rate-limit-client"


def test_an_address_that_keeps_being_refused_is_slowed_down_and_cannot_fill_the_audit_log(
    world, alice_token, settings
):
    settings.GATEHOUSE_LOGIN_RATE = 1  # 10 refusals per address in 10 minutes
    for _ in range(10):
        refused(post(exchange(alice_token), auth=("rucio", "guess")), "invalid_client", 401)
    audited = AuditEvent.objects.filter(action="storage_token.refuse").count()
    for _ in range(5):
        body = refused(post(exchange(alice_token), auth=("rucio", "guess")), "slow_down", 429)
        assert "wait ten minutes" in body["error_description"]
    assert AuditEvent.objects.filter(action="storage_token.refuse").count() == audited
    # even the right secret waits, from that address; another address is served
    right = world["secrets"]["rucio"]
    refused(post(exchange(alice_token), auth=("rucio", right)), "slow_down", 429)
    assert post(exchange(alice_token), auth=("rucio", right), ip="192.0.2.8").status_code == 200
