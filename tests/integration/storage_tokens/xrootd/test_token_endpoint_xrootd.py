"""End to end over the wire: curl asks Gatehouse's token endpoint (https, the live server behind
the TLS proxy) for a storage token, then uses it at a real XRootD.

The person's login token comes from a loopback OpenID provider (tests/harness/jwks_server.py)
that Gatehouse is configured to trust, as in test_exchange.py; everything after that is the
product: token exchange (RFC 8693), a client acting for a person (`act`), client_credentials.
"""

import json
import subprocess
import uuid

import jwt
import pytest
from django.conf import settings as django_settings

from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.services import account_create, identity_add
from tests.harness.idpsecrets import use_idpsecrets
from tests.harness.jwks_server import LoopbackIssuer
from tests.harness.xrootd import curl
from tests.integration.storage_tokens.xrootd.checks import SCOPE, assert_xrootd_answer
from tests.integration.storage_tokens.xrootd.conftest import AUDIENCE, GATEHOUSE_BASE_PATH
from tokens.issuer.services import oauth_client_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
NIGHTSKY_FILE = "/nightsky/raw/img-001.fits"


@pytest.fixture(scope="module")
def login_provider():
    with LoopbackIssuer() as provider:
        yield provider


@pytest.fixture
def world(
    gatehouse_issuer,
    gatehouse_xrootd,
    login_provider,
    settings,
    tmp_path,
    campaigns,
    member,
    outsider,
):
    """Nightsky (member in it) and deepfield, an XRootD storage element, and the login provider
    Gatehouse trusts, with the member's and the outsider's identities there."""
    use_idpsecrets(
        settings,
        tmp_path / "idpsecrets.json",
        {"loop": {"issuer": login_provider.issuer, "client_id": "x", "client_secret": "y"}},
    )
    for account, sub in ((member, "login-member"), (outsider, "login-outsider")):
        identity_add(
            account=account,
            type=Identity.Type.OIDC,
            identity=oidc_identity(sub=sub, issuer=login_provider.issuer),
            actor=None,
        )
    gatehouse_issuer.storage_element("xrootd", audience=AUDIENCE, base_path=GATEHOUSE_BASE_PATH)
    gatehouse_xrootd.forget_issuer_keys()  # a new database, a new signing key
    gatehouse_xrootd.put_file(NIGHTSKY_FILE, b"nightsky, embargoed\n")
    return gatehouse_xrootd


def login_token(provider: LoopbackIssuer, sub: str) -> str:
    """The person's access token from their provider, meant for Gatehouse."""
    claims = provider.claims(sub=sub, aud=django_settings.GATEHOUSE_ISSUER_AUDIENCE, scope="openid")
    return provider.sign(claims, kid="rsa1")


def exchange(provider: LoopbackIssuer, sub: str, scope: str) -> dict[str, str]:
    """An RFC 8693 request: this person's login token for a token for the XRootD element."""
    return {
        "grant_type": EXCHANGE,
        "subject_token": login_token(provider, sub),
        "subject_token_type": ACCESS_TOKEN,
        "audience": "xrootd",
        "scope": scope,
    }


def token_endpoint(
    ca_file, fields: dict[str, str], *, auth: tuple[str, str] | None = None
) -> tuple[int, dict]:
    """POST to Gatehouse's token endpoint with curl over https, trusting only the test CA."""
    command = ["curl", "-sS", "--cacert", str(ca_file), "-w", "\n%{http_code}", "--max-time", "30"]
    for name, value in fields.items():
        command += ["--data-urlencode", f"{name}={value}"]
    if auth:
        command += ["--user", f"{auth[0]}:{auth[1]}"]
    done = subprocess.run(
        command + [f"{django_settings.SITE_URL}/oauth/token"], capture_output=True, check=True
    )
    body, status = done.stdout.decode().rsplit("\n", 1)
    return int(status), json.loads(body)


def test_a_member_exchanges_a_login_token_and_reads_an_embargoed_file(
    world, login_provider, throwaway_ca
):
    status, body = token_endpoint(
        throwaway_ca.cert_file,
        exchange(login_provider, "login-member", "storage.read:/nightsky"),
    )
    assert status == 200, body
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == AUDIENCE

    mark = world.log_size()
    result = world.get(NIGHTSKY_FILE, body["access_token"])

    assert_xrootd_answer(world, mark, result, status=200)
    assert result.body == b"nightsky, embargoed\n"


def test_a_non_member_gets_an_error_and_no_token(world, login_provider, throwaway_ca):
    status, body = token_endpoint(
        throwaway_ca.cert_file,
        exchange(login_provider, "login-outsider", "storage.read:/nightsky"),
    )

    assert status == 400, body  # RFC 6749 §5.2
    assert body["error"] == "access_denied"
    assert body["error_description"]
    assert "access_token" not in body


def test_a_client_acting_for_a_member_gets_a_token_xrootd_accepts(
    world, login_provider, throwaway_ca
):
    """The Rucio -> FTS flow: the token keeps the person's `sub` and names the client in `act`;
    scitokens-cpp accepts a WLCG token carrying that object claim."""
    _, secret = oauth_client_create(
        client_id="fts",
        grants=[EXCHANGE],
        audiences=["xrootd"],
        path_prefixes=["/nightsky"],
        may_act_for_users=True,
    )
    status, body = token_endpoint(
        throwaway_ca.cert_file,
        exchange(login_provider, "login-member", f"storage.read:{NIGHTSKY_FILE}"),
        auth=("fts", secret),
    )
    assert status == 200, body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["act"]["sub"] == "fts"

    mark = world.log_size()
    result = world.get(NIGHTSKY_FILE, body["access_token"])

    assert_xrootd_answer(world, mark, result, status=200)


def test_a_service_uploads_within_its_prefix_with_client_credentials(world, throwaway_ca):
    service = account_create(name="svc-ingest", type=Account.Type.SERVICE)
    _, secret = oauth_client_create(
        client_id="ingest",
        grants=["client_credentials"],
        audiences=["xrootd"],
        path_prefixes=["/nightsky/uploads"],
        operations=["create"],
        service_account=service,
    )
    status, body = token_endpoint(
        throwaway_ca.cert_file,
        {
            "grant_type": "client_credentials",
            "audience": "xrootd",
            "scope": "storage.create:/nightsky/uploads",
        },
        auth=("ingest", secret),
    )
    assert status == 200, body
    token = body["access_token"]
    inside = f"/nightsky/uploads/{uuid.uuid4().hex}.fits"
    outside = f"/nightsky/raw/{uuid.uuid4().hex}.fits"

    mark = world.log_size()
    result = world.put(inside, token, b"ingested\n")
    assert_xrootd_answer(world, mark, result, status=200)
    assert (world.base_dir / inside.lstrip("/")).read_bytes() == b"ingested\n"

    mark = world.log_size()
    result = world.put(outside, token, b"outside\n")
    assert_xrootd_answer(world, mark, result, status=403, refusal=SCOPE)
    assert not (world.base_dir / outside.lstrip("/")).exists()

    status, body = token_endpoint(
        throwaway_ca.cert_file,
        {"grant_type": "client_credentials", "audience": "xrootd", "scope": "storage.read:/"},
        auth=("ingest", secret),
    )
    assert status == 400, body
    assert body["error"] == "invalid_scope"
    assert "access_token" not in body


def test_a_deletion_service_deletes_with_modify_and_read_on_xrootd_5_5(world, throwaway_ca):
    """The issue's deletion service (client_credentials, storage.modify): XrdHttp stats before
    it deletes and XRootD 5.5 gives no stat right with storage.modify, so at a 5.5 XRootD the
    client must be registered for read too (test_xrootd_standin.py has the bare fact)."""
    service = account_create(name="svc-deleter", type=Account.Type.SERVICE)
    clients = {}
    for client_id, operations in (("deleter", ["modify", "read"]), ("modify-only", ["modify"])):
        _, clients[client_id] = oauth_client_create(
            client_id=client_id,
            grants=["client_credentials"],
            audiences=["xrootd"],
            path_prefixes=["/nightsky/trash"],
            operations=operations,
            service_account=service,
        )
    victim = f"/nightsky/trash/{uuid.uuid4().hex}.fits"
    world.put_file(victim, b"obsolete\n")

    def delete_with(client_id: str, scope: str):
        status, body = token_endpoint(
            throwaway_ca.cert_file,
            {"grant_type": "client_credentials", "audience": "xrootd", "scope": scope},
            auth=(client_id, clients[client_id]),
        )
        assert status == 200, body
        mark = world.log_size()
        return mark, curl(world.url(victim), method="DELETE", token=body["access_token"])

    mark, result = delete_with("modify-only", "storage.modify:/nightsky/trash")
    assert_xrootd_answer(world, mark, result, status=403, refusal=SCOPE)
    assert (world.base_dir / victim.lstrip("/")).exists()

    mark, result = delete_with(
        "deleter", "storage.modify:/nightsky/trash storage.read:/nightsky/trash"
    )
    assert_xrootd_answer(world, mark, result, status=200)
    assert not (world.base_dir / victim.lstrip("/")).exists()
