"""The loopback SCIM service answers like INDIGO IAM v1.12 over real HTTP.

The bearer tokens come from a small key server in this file (discovery, JWKS, introspection)
because the dev IdP (devidp/, tests/harness/idp.py) is not on main yet; the verifiers under
test make the same HTTP calls against it that they make against node-oidc-provider.
"""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness.scim_service import (
    Fault,
    IamCertificate,
    IamSamlId,
    IamSshKey,
    IntrospectionBearerVerifier,
    JwtBearerVerifier,
    ScimDirectory,
    ScimService,
    certificates,
    generated_directory,
)

REPO = Path(__file__).resolve().parents[2]
ISSUER_OIDC = "https://iam.test.example/"


class _KeyServer:
    """Discovery + JWKS + RFC 7662 introspection on loopback, signing with its own RSA key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.revoked: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": server.issuer,
                            "jwks_uri": server.issuer + "/jwks",
                            "introspection_endpoint": server.issuer + "/introspect",
                        }
                    )
                elif self.path == "/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(server.key.public_key()))
                    self._json({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]})
                else:
                    self._json({}, 404)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = parse_qs(self.rfile.read(length).decode())
                if self.headers.get("Authorization") != "Basic cnM6cnMtc2VjcmV0":  # rs:rs-secret
                    self._json({"error": "invalid_client"}, 401)
                    return
                token = form["token"][0]
                try:
                    claims = jwt.decode(
                        token, server.key.public_key(), algorithms=["RS256"], issuer=server.issuer
                    )
                except jwt.PyJWTError:
                    self._json({"active": False})
                    return
                active = token not in server.revoked
                self._json({"active": active, **claims} if active else {"active": False})

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scope: str = "openid scim:read", lifetime: int = 300, **extra: object) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "gatehouse", "iat": now, "exp": now + lifetime}
        return jwt.encode(
            claims | {"scope": scope} | extra, self.key, algorithm="RS256", headers={"kid": "k1"}
        )

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def keys():
    server = _KeyServer()
    yield server
    server.stop()


@pytest.fixture
def directory() -> ScimDirectory:
    return ScimDirectory()


@pytest.fixture
def scim(directory, keys):
    with ScimService(directory, JwtBearerVerifier(keys.issuer), seed=7, order="stable") as service:
        yield service


@pytest.fixture
def client(keys):
    with httpx.Client(headers={"Authorization": f"Bearer {keys.token()}"}, timeout=5) as c:
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
def test_order_changes_between_requests_and_is_seeded(directory, keys, client, order):
    _people(directory, 300)
    firsts = []
    for _ in range(2):
        with ScimService(directory, JwtBearerVerifier(keys.issuer), seed=3, order=order) as s:
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
def test_requests_without_or_with_a_bad_token_get_401(scim, keys):
    assert httpx.get(f"{scim.scim_url}/Users").status_code == 401
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {
            "iss": keys.issuer,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "scope": "scim:read",
        },
        other_key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    hs256 = jwt.encode(
        {
            "iss": keys.issuer,
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
            "scope": "scim:read",
        },
        "a-shared-secret-of-at-least-32-bytes!!",
        algorithm="HS256",
    )
    expired = keys.token(lifetime=-60)
    wrong_issuer = keys.token(iss="https://elsewhere.example")
    for token in (forged, hs256, expired, wrong_issuer, "not-a-jwt"):
        response = httpx.get(f"{scim.scim_url}/Users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_valid_token_without_scim_read_gets_403(scim, keys):
    token = keys.token(scope="openid profile")
    response = httpx.get(f"{scim.scim_url}/Users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_introspection_verifier_follows_the_provider(directory, keys):
    verifier = IntrospectionBearerVerifier.from_issuer(
        keys.issuer, client_id="rs", client_secret="rs-secret"
    )
    token = keys.token()
    with ScimService(directory, verifier) as service:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{service.scim_url}/Users", headers=headers).status_code == 200
        keys.revoked.add(token)
        assert httpx.get(f"{service.scim_url}/Users", headers=headers).status_code == 401
        narrow = {"Authorization": f"Bearer {keys.token(scope='openid')}"}
        assert httpx.get(f"{service.scim_url}/Users", headers=narrow).status_code == 403


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
def test_generated_directory_is_deterministic_and_has_two_identities_per_user(keys, client):
    first = generated_directory(users=500, groups=20, seed=5, oidc_issuer=ISSUER_OIDC)
    again = generated_directory(users=500, groups=20, seed=5, oidc_issuer=ISSUER_OIDC)
    assert first.user_ids() == again.user_ids()
    with ScimService(first, JwtBearerVerifier(keys.issuer), order="stable") as service:
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
