"""The loopback SCIM service answers like INDIGO IAM v1.12 over real HTTP.

Bearer tokens come from the dev IdP (node-oidc-provider): client_credentials with scim:read,
verified by the service against the IdP's JWKS.
"""

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness.idp import start_idp
from tests.harness.scim_service import (
    Fault,
    IamCertificate,
    IamSamlId,
    IamSshKey,
    JwtBearerVerifier,
    ScimDirectory,
    ScimService,
    certificates,
    generated_directory,
)
from tests.harness.scim_service.devidp import (
    OTHER_CLIENT,
    SCIM_CLIENT,
    client_credentials_token,
    signed_token,
)

REPO = Path(__file__).resolve().parents[2]
ISSUER_OIDC = "https://iam.test.example/"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp"), clients=[SCIM_CLIENT, OTHER_CLIENT], users=[]
    ) as running:
        yield running


@pytest.fixture(scope="module")
def token(idp) -> str:
    return client_credentials_token(idp)


@pytest.fixture(scope="module")
def verifier(idp) -> JwtBearerVerifier:
    return JwtBearerVerifier(idp.issuer, audience=idp.scim_audience)


@pytest.fixture
def directory() -> ScimDirectory:
    return ScimDirectory()


@pytest.fixture
def scim(directory, verifier):
    with ScimService(directory, verifier, seed=7, order="stable") as service:
        yield service


@pytest.fixture
def client(token):
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5) as c:
        yield c


def _people(directory: ScimDirectory, n: int) -> list:
    return [directory.add_user(f"user{i:03d}", given_name=f"Given{i}") for i in range(n)]


def _no_empty_arrays(value: object) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_no_empty_arrays(v) for v in value)
    if isinstance(value, dict):
        return all(_no_empty_arrays(v) for v in value.values())
    return True


# paging
def test_250_users_come_in_three_pages_of_at_most_100(scim, directory, client):
    created = {u.id for u in _people(directory, 250)}
    pages = [
        client.get(f"{scim.scim_url}/Users", params={"startIndex": s, "count": 500}).json()
        for s in (1, 101, 201)
    ]
    assert [p["itemsPerPage"] for p in pages] == [100, 100, 50]
    assert [p["startIndex"] for p in pages] == [1, 101, 201]
    assert {p["totalResults"] for p in pages} == {250}
    assert {r["id"] for p in pages for r in p["Resources"]} == created


def test_count_and_start_index_are_clamped_like_iam(scim, directory, client):
    _people(directory, 120)
    default = client.get(f"{scim.scim_url}/Users").json()
    assert (default["itemsPerPage"], default["startIndex"]) == (100, 1)
    below_one = client.get(f"{scim.scim_url}/Users", params={"startIndex": -4, "count": 3}).json()
    assert (below_one["itemsPerPage"], below_one["startIndex"]) == (3, 1)
    negative = client.get(f"{scim.scim_url}/Users", params={"count": -1}).json()
    assert negative["totalResults"] == 120 and "Resources" not in negative
    beyond = client.get(f"{scim.scim_url}/Users", params={"startIndex": 500}).json()
    assert beyond["itemsPerPage"] == 0 and "Resources" not in beyond
    bad = client.get(f"{scim.scim_url}/Users", params={"count": "ten"})
    assert bad.status_code == 400


def test_filter_is_silently_ignored(scim, directory, client):
    _people(directory, 5)
    page = client.get(f"{scim.scim_url}/Users", params={"filter": 'userName eq "user001"'}).json()
    assert page["totalResults"] == 5 and len(page["Resources"]) == 5


def test_attributes_parameter_keeps_named_attributes_and_id(scim, directory, client):
    _people(directory, 2)
    page = client.get(f"{scim.scim_url}/Users", params={"attributes": "userName"}).json()
    assert {tuple(sorted(r)) for r in page["Resources"]} == {("id", "schemas", "userName")}


@pytest.mark.parametrize("order", ["drift", "shuffle"])
def test_order_changes_between_requests_and_is_seeded(directory, verifier, client, order):
    _people(directory, 300)
    firsts = []
    for _ in range(2):
        with ScimService(directory, verifier, seed=3, order=order) as s:
            firsts.append(
                [
                    [r["id"] for r in client.get(f"{s.scim_url}/Users").json()["Resources"]]
                    for _ in range(20)
                ]
            )
    assert firsts[0] == firsts[1]  # same seed, same sequence of answers
    assert len({tuple(ids) for ids in firsts[0]}) > 1  # but no two requests need agree


def test_stable_order_repeats(scim, directory, client):
    _people(directory, 30)
    answers = {
        tuple(r["id"] for r in client.get(f"{scim.scim_url}/Users").json()["Resources"])
        for _ in range(3)
    }
    assert len(answers) == 1


# resources
def test_user_resource_carries_the_indigo_extension(scim, directory, client):
    end = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    user = directory.add_user(
        "mrossi",
        given_name="Mario",
        family_name="Rossi",
        oidc_ids=[(ISSUER_OIDC, "sub-42")],
        certificates=[
            IamCertificate(
                subject_dn="CN=Rossi\\, Mario,O=Università di Bologna,C=IT",
                issuer_dn="CN=INFN Certification Authority,O=Istituto Nazionale di Fisica Nucleare,C=IT",
                primary=True,
                display="grid cert",
            )
        ],
        ssh_keys=[IamSshKey(value="ssh-ed25519 AAAAC3 mrossi", display="laptop", primary=True)],
        saml_ids=[IamSamlId(idp_id="https://idp.example/shibboleth", user_id="mrossi@example")],
        aup_signature_time=datetime(2024, 2, 1, tzinfo=UTC),
        end_time=end,
    )
    response = client.get(f"{scim.scim_url}/Users/{user.id}")
    assert response.headers["content-type"].startswith("application/scim+json")
    assert "Università".encode() in response.content  # UTF-8 as is, not \\u escapes
    body = response.json()
    assert body["schemas"] == [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:indigo-dc:scim:schemas:IndigoUser",
    ]
    assert body["userName"] == body["displayName"] == "mrossi"
    assert body["name"] == {"familyName": "Rossi", "formatted": "Mario Rossi", "givenName": "Mario"}
    assert body["emails"] == [{"type": "work", "value": "mrossi@example.org", "primary": True}]
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == f"{scim.url}/scim/Users/{user.id}"
    assert body["meta"]["created"].endswith("+02:00") and "." in body["meta"]["created"]
    indigo = body["urn:indigo-dc:scim:schemas:IndigoUser"]
    assert indigo["oidcIds"] == [{"issuer": ISSUER_OIDC, "subject": "sub-42"}]
    (cert,) = indigo["certificates"]
    assert cert["subjectDn"] == "CN=Rossi\\, Mario,O=Università di Bologna,C=IT"
    assert cert["primary"] is True and cert["hasProxyCertificate"] is False
    assert {"issuerDn", "display", "created", "lastModified"} <= set(cert)
    assert indigo["sshKeys"][0]["value"] == "ssh-ed25519 AAAAC3 mrossi"
    assert indigo["samlIds"] == [
        {"idpId": "https://idp.example/shibboleth", "userId": "mrossi@example"}
    ]
    assert datetime.fromisoformat(indigo["endTime"]) == end
    assert indigo["serviceAccount"] is False and "aupSignatureTime" in indigo


def test_empty_arrays_are_omitted_never_sent_empty(scim, directory, client):
    directory.add_user("bare")
    page = client.get(f"{scim.scim_url}/Users").json()
    (user,) = page["Resources"]
    assert "groups" not in user
    indigo = user["urn:indigo-dc:scim:schemas:IndigoUser"]
    assert not {"oidcIds", "certificates", "sshKeys", "samlIds", "endTime"} & set(indigo)
    assert _no_empty_arrays(page)


def test_user_groups_list_direct_memberships_only(scim, directory, client):
    user = directory.add_user("anna")
    parent = directory.add_group("atlas")
    child = directory.add_group("production", parent=parent)
    directory.add_member(child.id, user.id)
    body = client.get(f"{scim.scim_url}/Users/{user.id}").json()
    assert body["groups"] == [
        {
            "display": "atlas/production",
            "value": child.id,
            "$ref": f"{scim.url}/scim/Groups/{child.id}",
        }
    ]


def test_groups_never_list_members_inline_and_carry_indigo_group(scim, directory, client):
    parent = directory.add_group("atlas", description="ATLAS VO")
    child = directory.add_group("production", parent=parent)
    directory.add_member(child.id, directory.add_user("anna").id)
    groups = {
        g["displayName"]: g for g in client.get(f"{scim.scim_url}/Groups").json()["Resources"]
    }
    assert set(groups) == {"atlas", "atlas/production"}
    assert all("members" not in g for g in groups.values())
    ext = "urn:indigo-dc:scim:schemas:IndigoGroup"
    assert groups["atlas"][ext] == {"description": "ATLAS VO"}
    assert groups["atlas/production"][ext]["parentGroup"]["value"] == parent.id
    assert groups["atlas/production"]["schemas"][1] == ext


def test_members_are_paged_like_users(scim, directory, client):
    group = directory.add_group("big")
    people = _people(directory, 130)
    for person in people:
        directory.add_member(group.id, person.id)
    url = f"{scim.scim_url}/Groups/{group.id}/members"
    first = client.get(url, params={"count": 1000}).json()
    second = client.get(url, params={"startIndex": 101}).json()
    assert (first["totalResults"], first["itemsPerPage"], second["itemsPerPage"]) == (130, 100, 30)
    refs = first["Resources"] + second["Resources"]
    assert {r["value"] for r in refs} == {p.id for p in people}
    assert refs[0]["display"].startswith("Given") and refs[0]["$ref"].startswith(scim.url)


def test_unknown_ids_and_discovery_endpoints_are_404(scim, client):
    missing = client.get(f"{scim.scim_url}/Users/nope")
    assert missing.status_code == 404
    assert missing.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert client.get(f"{scim.scim_url}/Groups/nope/members").status_code == 404
    for path in ("ServiceProviderConfig", "ResourceTypes", "Schemas"):
        assert client.get(f"{scim.scim_url}/{path}").status_code == 404


def test_only_get_is_served(scim, client):
    assert client.post(f"{scim.scim_url}/Users", json={}).status_code == 405


# auth
def test_requests_without_or_with_a_bad_token_get_401(scim, idp):
    assert httpx.get(f"{scim.scim_url}/Users").status_code == 401
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": idp.issuer, "aud": idp.scim_audience, "iat": now, "exp": now + 60},
        other_key,
        algorithm="RS256",
        headers={"kid": json.loads(idp.jwks_path.read_text())["keys"][0].get("kid")},
    )
    hs256 = jwt.encode(
        {"iss": idp.issuer, "aud": idp.scim_audience, "iat": now, "exp": now + 60},
        "a-shared-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
    )
    bad = {
        "forged": forged,
        "hs256": hs256,
        "expired": signed_token(idp, iat=now - 600, exp=now - 60),
        "wrong issuer": signed_token(idp, iss="https://elsewhere.example/"),
        "wrong audience": signed_token(idp, aud="https://wlcg.cern.ch/jwt/v1/any"),
        "garbage": "not-a-jwt",
    }
    for what, bad_token in bad.items():
        response = httpx.get(
            f"{scim.scim_url}/Users", headers={"Authorization": f"Bearer {bad_token}"}
        )
        assert response.status_code == 401, what
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_valid_token_without_scim_read_gets_403(scim, idp):
    for narrow in (signed_token(idp, scope="openid"), signed_token(idp, scope="scim:write")):
        response = httpx.get(
            f"{scim.scim_url}/Users", headers={"Authorization": f"Bearer {narrow}"}
        )
        assert response.status_code == 403
        assert response.json()["error"] == "insufficient_scope"


def test_the_other_client_cannot_get_scim_read_at_all(idp):
    with pytest.raises(Exception, match="400|401|403"):
        client_credentials_token(idp, OTHER_CLIENT)


# changes between runs
def test_the_directory_can_change_between_requests(scim, directory, client):
    gone, stays = _people(directory, 2)
    group = directory.add_group("g")
    directory.add_member(group.id, gone.id)
    directory.remove_user(gone.id)
    directory.update_user(stays.id, active=False, end_time=datetime(2020, 1, 1, tzinfo=UTC))
    directory.add_certificate(stays.id, certificates("CN=New Cert,O=Example,C=DE")[0])
    page = client.get(f"{scim.scim_url}/Users").json()
    assert page["totalResults"] == 1
    (body,) = page["Resources"]
    assert body["active"] is False
    indigo = body["urn:indigo-dc:scim:schemas:IndigoUser"]
    assert indigo["endTime"].startswith("2020-01-01")
    assert indigo["certificates"][0]["subjectDn"] == "CN=New Cert,O=Example,C=DE"
    assert client.get(f"{scim.scim_url}/Users/{gone.id}").status_code == 404
    assert "Resources" not in client.get(f"{scim.scim_url}/Groups/{group.id}/members").json()


# faults
def test_500_once_then_ok_on_one_page_only(scim, directory, client):
    _people(directory, 150)
    scim.faults.fail_once("/scim/Users", start_index=101)
    url = f"{scim.scim_url}/Users"
    assert client.get(url, params={"startIndex": 1}).status_code == 200
    assert client.get(url, params={"startIndex": 101}).status_code == 500
    assert client.get(url, params={"startIndex": 101}).status_code == 200


def test_500_always_and_skip(scim, directory, client):
    _people(directory, 3)
    scim.faults.fail_always("/scim/Groups/*/members")
    scim.faults.add(Fault("/scim/Users", "status", times=None, skip=1, status=503))
    group = directory.add_group("g")
    members = f"{scim.scim_url}/Groups/{group.id}/members"
    assert [client.get(members).status_code for _ in range(3)] == [500, 500, 500]
    users = f"{scim.scim_url}/Users"
    statuses = [client.get(users).status_code for _ in range(3)]
    assert statuses == [200, 503, 503]


def test_429_carries_retry_after(scim, directory, client):
    scim.faults.throttle("/scim/Users", retry_after=7)
    response = client.get(f"{scim.scim_url}/Users")
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert client.get(f"{scim.scim_url}/Users").status_code == 200


def test_malformed_json_and_contradicting_total(scim, directory, client):
    _people(directory, 150)
    scim.faults.malformed("/scim/Users", start_index=1, times=1)
    scim.faults.contradict_total("/scim/Users", start_index=101, delta=-7)
    broken = client.get(f"{scim.scim_url}/Users")
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    second = client.get(f"{scim.scim_url}/Users", params={"startIndex": 101}).json()
    assert second["totalResults"] == 143
    assert client.get(f"{scim.scim_url}/Users").json()["totalResults"] == 150


def test_slow_page_times_out_and_dropped_connection_errors(scim, client):
    scim.faults.slow("/scim/Groups", seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{scim.scim_url}/Groups", timeout=0.2)
    scim.faults.drop("/scim/Groups")
    with pytest.raises(httpx.TransportError):
        client.get(f"{scim.scim_url}/Groups")
    assert client.get(f"{scim.scim_url}/Groups").status_code == 200


def test_request_log_shows_what_was_fetched_without_tokens(scim, directory, client):
    _people(directory, 3)
    client.get(f"{scim.scim_url}/Users", params={"startIndex": 2, "count": 1, "filter": "x"})
    httpx.get(f"{scim.scim_url}/Groups")
    users, groups = scim.fetched("/scim/Users"), scim.fetched("/scim/Groups")
    assert [(r.status, r.start_index, r.count, r.query["filter"]) for r in users] == [
        (200, 2, 1, "x")
    ]
    assert [r.status for r in groups] == [401]
    assert "Bearer" not in repr(scim.requests)
    scim.clear_log()
    assert scim.requests == []


# generated data
def test_generated_directory_is_deterministic_and_has_two_identities_per_user(verifier, client):
    first = generated_directory(users=500, groups=20, seed=5, oidc_issuer=ISSUER_OIDC)
    again = generated_directory(users=500, groups=20, seed=5, oidc_issuer=ISSUER_OIDC)
    assert first.user_ids() == again.user_ids()
    with ScimService(first, verifier, order="stable") as service:
        user_id = first.user_ids()[97]
        body = client.get(f"{service.scim_url}/Users/{user_id}").json()
        indigo = body["urn:indigo-dc:scim:schemas:IndigoUser"]
        assert len(indigo["oidcIds"]) == 1 and len(indigo["certificates"]) == 1
        assert "\\," in indigo["certificates"][0]["subjectDn"]  # every 97th DN escapes a comma
        assert len(body["groups"]) == 2
        groups = client.get(f"{service.scim_url}/Groups").json()
        assert groups["totalResults"] == 20
        total = sum(
            client.get(f"{service.scim_url}/Groups/{g['id']}/members", params={"count": 0}).json()[
                "totalResults"
            ]
            for g in groups["Resources"]
        )
        assert total == 1000
        directory_user = first.update_user(user_id, active=False)
        assert directory_user.active is False and again.user(user_id).active is True


def test_runs_as_a_process_for_the_benchmark():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.harness.scim_service",
            "--users",
            "300",
            "--groups",
            "4",
            "--token",
            "bench-token",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(process.stdout.readline())
        page = httpx.get(
            f"{ready['scim_url']}/Users",
            params={"startIndex": 201},
            headers={"Authorization": "Bearer bench-token"},
        ).json()
        assert (page["totalResults"], page["itemsPerPage"]) == (300, 100)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
