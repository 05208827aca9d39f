"""Gatehouse's storage tokens, enforced by real storage.

The issuer is Gatehouse itself (the live server behind a TLS proxy, SITE_URL = its https URL);
the verifiers are a real XRootD 5.5 with the SciTokens plugin (scitokens-cpp 0.7.3), asked over
HTTP with curl, and the `scitokens` Python library, each fetching Gatehouse's discovery document
and JWKS on its own. Each test asks both and says why XRootD answered as it did.
"""

import io
import uuid
from datetime import timedelta

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from campaigns import services as campaign_services
from campaigns.models import Campaign
from tests.harness.jwks_server import ec_key
from tests.harness.scitokens_python import Verdict, python_verify
from tests.harness.xrootd import HttpResult, RunningXrootd
from tests.integration.storage_tokens.xrootd.checks import SCOPE, assert_xrootd_answer
from tests.integration.storage_tokens.xrootd.conftest import AUDIENCE, GATEHOUSE_BASE_PATH
from tokens.models import IssuerKey
from tokens.policy import Refused

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NIGHTSKY_FILE = "/nightsky/raw/img-001.fits"  # relative to the base path /data
DEEPFIELD_FILE = "/deepfield/img-b.fits"
FILES = {NIGHTSKY_FILE: b"nightsky, embargoed\n", DEEPFIELD_FILE: b"deepfield, embargoed\n"}


@pytest.fixture
def storage(gatehouse_issuer, campaigns):
    """The XRootD storage element, and a dCache one whose audience XRootD does not accept."""
    xrootd = gatehouse_issuer.storage_element(
        "xrootd", audience=AUDIENCE, base_path=GATEHOUSE_BASE_PATH
    )
    dcache = gatehouse_issuer.storage_element(
        "dcache", audience="https://dcache.example.org", base_path=GATEHOUSE_BASE_PATH
    )
    return {"xrootd": xrootd, "dcache": dcache}


@pytest.fixture
def xrootd(gatehouse_xrootd, gatehouse_issuer, python_scitokens) -> RunningXrootd:
    # Each test's database gets a new signing key: start with an empty key cache, as a storage
    # element would meet an issuer for the first time.
    gatehouse_xrootd.forget_issuer_keys()
    for path, content in FILES.items():
        gatehouse_xrootd.put_file(path, content)
    return gatehouse_xrootd


def ask_both(
    xrootd: RunningXrootd, token: str | None, operation: str, path: str, data: bytes = b""
) -> tuple[int, HttpResult, Verdict | None]:
    """(log mark, XRootD's answer, the scitokens library's verdict) for one request."""
    mark = xrootd.log_size()
    if operation == "storage.read":
        result = xrootd.get(path, token)
    else:
        result = xrootd.put(path, token, data)
    verdict = None
    if token is not None:
        verdict = python_verify(
            token, issuer=xrootd.issuer, audience=AUDIENCE, operation=operation, path=path
        )
    return mark, result, verdict


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_member_reads_an_embargoed_file(xrootd, gatehouse_issuer, storage, member):
    for scope in ("storage.read:/nightsky", f"storage.read:{NIGHTSKY_FILE}"):
        token = gatehouse_issuer.issue(
            account=member, storage_element=storage["xrootd"], scopes=scope
        )
        assert claims_of(token)["iss"] == xrootd.issuer == gatehouse_issuer.url

        mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)

        assert_xrootd_answer(xrootd, mark, result, status=200)
        assert result.body == FILES[NIGHTSKY_FILE]
        assert verdict.allowed, verdict.reason


def test_a_non_member_gets_no_token_and_no_file(xrootd, gatehouse_issuer, storage, outsider):
    with pytest.raises(Refused) as refused:
        gatehouse_issuer.issue(
            account=outsider, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
        )
    assert refused.value.rule
    assert refused.value.message

    _, result, _ = ask_both(xrootd, None, "storage.read", NIGHTSKY_FILE)

    assert result.status == 403
    assert FILES[NIGHTSKY_FILE] not in result.body


def test_a_campaign_a_token_is_refused_on_campaign_b(xrootd, gatehouse_issuer, storage, member):
    token = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )

    mark, result, verdict = ask_both(xrootd, token, "storage.read", DEEPFIELD_FILE)

    assert_xrootd_answer(xrootd, mark, result, status=403, refusal=SCOPE)
    assert FILES[DEEPFIELD_FILE] not in result.body
    assert not verdict.allowed
    with pytest.raises(Refused):
        gatehouse_issuer.issue(
            account=member, storage_element=storage["xrootd"], scopes="storage.read:/deepfield"
        )


def test_a_token_for_another_storage_element_is_refused(xrootd, gatehouse_issuer, storage, member):
    token = gatehouse_issuer.issue(
        account=member, storage_element=storage["dcache"], scopes="storage.read:/nightsky"
    )
    assert claims_of(token)["aud"] == "https://dcache.example.org"

    mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)

    assert_xrootd_answer(
        xrootd, mark, result, status=403, refusal="'aud' claim verification failed"
    )
    assert not verdict.allowed
    assert "aud" in verdict.reason


def test_an_expired_token_is_refused(xrootd, gatehouse_issuer, storage, member):
    real = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    claims = claims_of(real)
    past = claims["iat"] - 3600
    claims.update(iat=past, nbf=past, exp=past + 1200, jti=str(uuid.uuid4()))
    token = gatehouse_issuer.sign(claims)

    mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)

    assert_xrootd_answer(xrootd, mark, result, status=403, refusal="token expired")
    assert not verdict.allowed
    assert "Expired" in verdict.reason


def test_a_forged_token_is_refused(xrootd, gatehouse_issuer, storage, member):
    real = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    header = jwt.get_unverified_header(real)
    # Gatehouse's kid and claims, a key Gatehouse never had.
    token = jwt.encode(claims_of(real), ec_key(), algorithm="ES256", headers=header)

    mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)

    assert_xrootd_answer(xrootd, mark, result, status=403, refusal="Invalid signature")
    assert not verdict.allowed
    assert "Signature" in verdict.reason


def test_upload_works_with_create_and_not_with_read(xrootd, gatehouse_issuer, storage, pi, member):
    creator = gatehouse_issuer.issue(
        account=pi, storage_element=storage["xrootd"], scopes="storage.create:/nightsky/uploads"
    )
    reader = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    created = f"/nightsky/uploads/{uuid.uuid4().hex}.fits"
    refused = f"/nightsky/uploads/{uuid.uuid4().hex}.fits"

    mark, result, verdict = ask_both(xrootd, creator, "storage.create", created, b"new data\n")
    assert_xrootd_answer(xrootd, mark, result, status=200)
    assert (xrootd.base_dir / created.lstrip("/")).read_bytes() == b"new data\n"
    assert verdict.allowed, verdict.reason

    mark, result, verdict = ask_both(xrootd, reader, "storage.create", refused, b"sneaky\n")
    assert_xrootd_answer(xrootd, mark, result, status=403, refusal=SCOPE)
    assert not (xrootd.base_dir / refused.lstrip("/")).exists()
    assert not verdict.allowed

    with pytest.raises(Refused):
        gatehouse_issuer.issue(
            account=member, storage_element=storage["xrootd"], scopes="storage.create:/nightsky"
        )


def test_rs256_tokens_are_enforced_too(xrootd, gatehouse_issuer, storage, member):
    IssuerKey.objects.filter(state=IssuerKey.State.NEXT).delete()
    call_command("issuer_key", "create", "--alg", "RS256", stdout=io.StringIO())  # next
    # XRootD's first fetch (below) will see it: waiting the key-cache time is dated back.
    gatehouse_issuer.let_storage_cache_the_next_key()
    call_command("issuer_key", "rotate", stdout=io.StringIO())
    token = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"

    mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)
    assert_xrootd_answer(xrootd, mark, result, status=200)
    assert verdict.allowed, verdict.reason
    mark, result, verdict = ask_both(xrootd, token, "storage.read", DEEPFIELD_FILE)
    assert_xrootd_answer(xrootd, mark, result, status=403, refusal=SCOPE)
    assert not verdict.allowed


def test_xrdcp_with_bearer_token_reads_and_uploads(
    xrootd, gatehouse_issuer, storage, pi, member, tmp_path
):
    """The copyable xrdcp command: BEARER_TOKEN over roots://. On XRootD 5.5 an xrdcp upload
    needs storage.read beside storage.create (xrdcp stats the target first; see
    test_xrootd_standin.py)."""
    reader = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    copy = tmp_path / "img-001.fits"
    done = xrootd.xrdcp(xrootd.root_url(NIGHTSKY_FILE), str(copy), reader)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert copy.read_bytes() == FILES[NIGHTSKY_FILE]

    denied = tmp_path / "img-b.fits"
    assert xrootd.xrdcp(xrootd.root_url(DEEPFIELD_FILE), str(denied), reader).returncode != 0
    assert not denied.exists() or denied.read_bytes() == b""

    uploader = gatehouse_issuer.issue(
        account=pi,
        storage_element=storage["xrootd"],
        scopes="storage.create:/nightsky/uploads storage.read:/nightsky/uploads",
    )
    target = f"/nightsky/uploads/{uuid.uuid4().hex}.fits"
    done = xrootd.xrdcp(str(copy), xrootd.root_url(target), uploader)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert (xrootd.base_dir / target.lstrip("/")).read_bytes() == FILES[NIGHTSKY_FILE]


def test_a_string_prefix_neighbour_stays_closed(
    xrootd, gatehouse_issuer, storage, pi, manager, member, admin
):
    """XRootD 5.5 opens /c42 for a `storage.read:/c4` scope (plain string prefix). Gatehouse
    therefore refuses that scope to who may not read /c42, and what it does grant keeps /c42
    closed at the real server."""
    embargo = timezone.localdate() + timedelta(days=30)
    c4 = campaign_services.campaign_create(
        slug="c4",
        title="C4",
        pi=pi,
        actor=admin,
        data_paths=[f"{GATEHOUSE_BASE_PATH}/c4"],
        embargo_until=embargo,
    )
    asked = campaign_services.membership_request(campaign=c4, account=member)
    campaign_services.membership_approve(membership=asked, actor=pi)
    c42 = campaign_services.campaign_create(
        slug="c42",
        title="C42",
        pi=manager,
        actor=admin,
        data_paths=[f"{GATEHOUSE_BASE_PATH}/elsewhere"],
        embargo_until=embargo,
    )
    # A conflicting path that predates Gatehouse's prefix rule (the issue expects such rows and
    # a check that reports them), so it is written past the campaign services' checks.
    Campaign.objects.filter(pk=c42.pk).update(data_paths=[f"{GATEHOUSE_BASE_PATH}/c42"])
    xrootd.put_file("/c4/raw/f.fits", b"c4\n")
    xrootd.put_file("/c42/f.fits", b"c42\n")
    element = storage["xrootd"]

    for scope in ("storage.read:/c4", "storage.read:/c4/"):
        with pytest.raises(Refused) as refused:
            gatehouse_issuer.issue(account=member, storage_element=element, scopes=scope)
        assert refused.value.rule == "would-open-other-campaign"

    granted = gatehouse_issuer.issue(
        account=member, storage_element=element, scopes="storage.read:/c4/raw"
    )
    mark, result, _ = ask_both(xrootd, granted, "storage.read", "/c4/raw/f.fits")
    assert_xrootd_answer(xrootd, mark, result, status=200)
    mark, result, verdict = ask_both(xrootd, granted, "storage.read", "/c42/f.fits")
    assert_xrootd_answer(xrootd, mark, result, status=403, refusal=SCOPE)
    assert not verdict.allowed

    # The fact the rule guards against: the same claims with /c4, signed without the policy.
    claims = {**claims_of(granted), "scope": "storage.read:/c4", "jti": str(uuid.uuid4())}
    mark, result, verdict = ask_both(
        xrootd, gatehouse_issuer.sign(claims), "storage.read", "/c42/f.fits"
    )
    assert_xrootd_answer(xrootd, mark, result, status=200)
    assert result.body == b"c42\n"
    assert not verdict.allowed  # the scitokens library matches whole segments


def _rotation(xrootd, gatehouse_issuer, storage, member) -> tuple[str, str]:
    """A token XRootD has verified (so it holds the JWKS of that moment, with the next key), the
    key-cache time dated back, a rotation, and a token signed with the new active key."""
    before = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    mark, result, _ = ask_both(xrootd, before, "storage.read", NIGHTSKY_FILE)
    assert_xrootd_answer(xrootd, mark, result, status=200)

    gatehouse_issuer.let_storage_cache_the_next_key()
    call_command("issuer_key", "rotate", stdout=io.StringIO())
    after = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    return before, after


def test_old_and_new_tokens_work_after_a_key_rotation(xrootd, gatehouse_issuer, storage, member):
    """With a next key in the JWKS (as after any rotation), XRootD already holds the key that
    rotation activates: tokens signed before and after it both open the file."""
    # An active key exists, so this one waits as `next`, published in the JWKS.
    call_command("issuer_key", "create", stdout=io.StringIO())
    assert IssuerKey.objects.filter(state=IssuerKey.State.NEXT).count() == 2
    before, after = _rotation(xrootd, gatehouse_issuer, storage, member)

    for token in (after, before):
        mark, result, verdict = ask_both(xrootd, token, "storage.read", NIGHTSKY_FILE)
        assert_xrootd_answer(xrootd, mark, result, status=200)
        assert result.body == FILES[NIGHTSKY_FILE]
        assert verdict.allowed, verdict.reason


def test_the_first_rotation_after_create_keeps_new_tokens_working(
    xrootd, gatehouse_issuer, storage, member
):
    """`issuer_key create` on a new issuer publishes a next key with the active one, so the
    first rotation activates a key XRootD fetched with its first JWKS (scitokens-cpp 0.7.3
    keeps a JWKS 600 s and does not refetch for an unknown kid)."""
    # The keys are as the gatehouse_issuer fixture's `issuer_key create` left them.
    assert IssuerKey.objects.filter(state=IssuerKey.State.NEXT).count() == 1
    _, after = _rotation(xrootd, gatehouse_issuer, storage, member)

    mark, result, verdict = ask_both(xrootd, after, "storage.read", NIGHTSKY_FILE)

    assert verdict.allowed, verdict.reason
    assert_xrootd_answer(xrootd, mark, result, status=200)


def test_a_second_rotation_soon_after_the_first_keeps_new_tokens_working(
    xrootd, gatehouse_issuer, storage, member
):
    """The next key one rotation makes is not activated by a second rotation minutes later,
    before XRootD's key cache has seen it: `rotate` refuses, saying when it will be safe, and
    the tokens Gatehouse signs meanwhile keep working."""
    _rotation(xrootd, gatehouse_issuer, storage, member)  # works: XRootD had that next key
    active = IssuerKey.objects.get(state=IssuerKey.State.ACTIVE).kid
    with pytest.raises(CommandError, match="rotate at or after .* UTC"):
        call_command("issuer_key", "rotate", stdout=io.StringIO())
    assert IssuerKey.objects.get(state=IssuerKey.State.ACTIVE).kid == active
    latest = gatehouse_issuer.issue(
        account=member, storage_element=storage["xrootd"], scopes="storage.read:/nightsky"
    )
    assert jwt.get_unverified_header(latest)["kid"] == active

    mark, result, verdict = ask_both(xrootd, latest, "storage.read", NIGHTSKY_FILE)

    assert verdict.allowed, verdict.reason
    assert_xrootd_answer(xrootd, mark, result, status=200)
