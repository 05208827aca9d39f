"""Harness self-test: real XRootD + SciTokens plugin against a STAND-IN TLS issuer.

The issuer here is tests/harness/standin_issuer.py, not Gatehouse; these tests prove that the
harness (TLS with a throwaway CA in a private mount namespace, plugin configuration, curl) makes
XRootD enforce tokens, and record what XRootD 5.5 / scitokens-cpp 0.7.3 accept. Gatehouse's own
issuer is tested the same way in test_xrootd_gatehouse.py.
"""

import socket
import time
from pathlib import Path

import pytest

from tests.harness.jwks_server import ec_key
from tests.harness.tls import SYSTEM_CA_BUNDLE
from tests.harness.xrootd import curl
from tests.integration.storage_tokens.xrootd.checks import SCOPE, assert_xrootd_answer
from tests.integration.storage_tokens.xrootd.standin_cases import (
    EMBARGOED,
    FILES,
    READ_CASES,
    UPLOAD_CASES,
    Case,
    new_name,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def xrootd(standin_xrootd):
    for path, content in FILES.items():
        standin_xrootd.put_file(path, content)
    return standin_xrootd


@pytest.mark.parametrize("case", READ_CASES, ids=lambda case: case.name)
def test_read(xrootd, standin_issuer, case: Case):
    mark = xrootd.log_size()

    result = xrootd.get(case.path, case.token(standin_issuer))

    assert_xrootd_answer(xrootd, mark, result, status=case.xrootd_status, refusal=case.refusal)
    if case.xrootd_status == 200:
        assert result.body == FILES[case.path]
    else:
        assert FILES[case.path] not in result.body


def test_no_token_is_refused(xrootd):
    result = xrootd.get(EMBARGOED, None)

    assert result.status == 403
    assert FILES[EMBARGOED] not in result.body


@pytest.mark.parametrize("case", UPLOAD_CASES, ids=lambda case: case.name)
def test_upload(xrootd, standin_issuer, case: Case):
    path = new_name()
    content = f"uploaded by {case.name}\n".encode()
    mark = xrootd.log_size()

    result = xrootd.put(path, case.token(standin_issuer), content)

    assert_xrootd_answer(xrootd, mark, result, status=case.xrootd_status, refusal=case.refusal)
    on_disk = xrootd.base_dir / path.lstrip("/")
    if case.xrootd_status == 200:
        assert on_disk.read_bytes() == content
    else:
        assert not on_disk.exists()


def test_create_scope_does_not_overwrite_but_modify_does(xrootd, standin_issuer):
    path = new_name()
    xrootd.put_file(path, b"original\n")
    create = Case("create", "storage.create:/c", "storage.create", path, 403, False)
    modify = Case("modify", "storage.modify:/c", "storage.modify", path, 200, True)

    mark = xrootd.log_size()
    refused = xrootd.put(path, create.token(standin_issuer), b"overwritten by create\n")
    assert_xrootd_answer(xrootd, mark, refused, status=403, refusal=SCOPE)
    assert (xrootd.base_dir / path.lstrip("/")).read_bytes() == b"original\n"

    mark = xrootd.log_size()
    allowed = xrootd.put(path, modify.token(standin_issuer), b"corrected\n")
    assert_xrootd_answer(xrootd, mark, allowed, status=200)
    assert (xrootd.base_dir / path.lstrip("/")).read_bytes() == b"corrected\n"


@pytest.mark.parametrize(
    ("name", "claims", "headers", "status", "refusal"),
    [
        # Without wlcg.ver the token is read as a SciToken, whose profile refuses client_id.
        ("without wlcg.ver", {"wlcg.ver": None}, {}, 403, "'client_id' claim verification"),
        ("without aud", {"aud": None}, {}, 403, "'aud' claim required for WLCG profile"),
        ("without nbf", {"nbf": None}, {}, 403, "'nbf' claim is mandatory"),
        ("without nbf, typ at+jwt", {"nbf": None}, {"typ": "at+jwt"}, 200, ""),
        # jwt-cpp reports a token not yet valid with the words it uses for an expired one.
        ("nbf in the future", {"nbf": int(time.time()) + 3600}, {}, 403, "token expired"),
    ],
    ids=["no wlcg.ver", "no aud", "no nbf", "no nbf, typ at+jwt", "nbf in the future"],
)
def test_profile_facts(xrootd, standin_issuer, name, claims, headers, status, refusal):
    """What scitokens-cpp 0.7.3 requires of a WLCG token: the issuer must meet these."""
    case = Case(
        name,
        "storage.read:/c",
        "storage.read",
        EMBARGOED,
        status,
        False,
        claims=claims,
        headers=headers,
    )
    mark = xrootd.log_size()

    result = xrootd.get(EMBARGOED, case.token(standin_issuer))

    assert_xrootd_answer(xrootd, mark, result, status=status, refusal=refusal)


def test_key_published_after_first_fetch_is_not_seen_for_ten_minutes(xrootd, standin_issuer):
    """Why the JWKS must publish the next key before it signs anything: scitokens-cpp 0.7.3
    caches an issuer's JWKS for 600 s and does not refetch for an unknown `kid`."""
    warm = Case("warm", "storage.read:/c", "storage.read", EMBARGOED, 200, True)
    assert xrootd.get(EMBARGOED, warm.token(standin_issuer)).status == 200
    standin_issuer.private_keys["ec-late"] = ec_key()
    standin_issuer.publish()
    fetches = standin_issuer.jwks_requests

    late = Case("late", "storage.read:/c", "storage.read", EMBARGOED, 403, True, kid="ec-late")
    mark = xrootd.log_size()
    result = xrootd.get(EMBARGOED, late.token(standin_issuer))

    assert_xrootd_answer(
        xrootd, mark, result, status=403, refusal="Key ID is not published by the issuer"
    )
    assert standin_issuer.jwks_requests == fetches


def test_the_machine_trust_store_is_untouched(xrootd, throwaway_ca):
    """The test CA reaches XRootD only through its private mount namespace."""
    assert throwaway_ca.cert_pem not in SYSTEM_CA_BUNDLE.read_bytes()
    assert str(SYSTEM_CA_BUNDLE) not in Path("/proc/self/mountinfo").read_text()
    assert xrootd.proc.poll() is None


def test_forgetting_the_key_cache_makes_xrootd_fetch_the_jwks_again(xrootd, standin_issuer):
    token = Case("read", "storage.read:/c", "storage.read", EMBARGOED, 200, True).token
    assert xrootd.get(EMBARGOED, token(standin_issuer)).status == 200
    fetches = standin_issuer.jwks_requests

    assert xrootd.forget_issuer_keys() == 1
    assert xrootd.get(EMBARGOED, token(standin_issuer)).status == 200

    assert standin_issuer.jwks_requests == fetches + 1
    assert list(xrootd.key_cache.parent.iterdir()) == [xrootd.key_cache]


@pytest.mark.parametrize(
    ("scope", "path", "allowed"),
    [("storage.read:/c", EMBARGOED, True), ("storage.read:/d", EMBARGOED, False)],
    ids=["scope covers", "other path"],
)
def test_xrdcp_reads_over_roots_with_bearer_token(
    xrootd, standin_issuer, tmp_path, scope, path, allowed
):
    token = Case("xrdcp", scope, "storage.read", path, 0, allowed).token(standin_issuer)
    target = tmp_path / "copy.dat"
    mark = xrootd.log_size()

    done = xrootd.xrdcp(xrootd.root_url(path), str(target), token)

    assert (done.returncode == 0) is allowed, done.stderr.decode(errors="replace")
    assert xrootd.token_errors_since(mark) == []
    if allowed:
        assert target.read_bytes() == FILES[path]
        assert "login as a1b98335" in xrootd.log_since(mark)  # the token's sub, through ztn
    else:
        assert not target.exists() or target.read_bytes() == b""


def test_xrdcp_uploads_need_read_as_well_as_create_on_xrootd_5_5(xrootd, standin_issuer, tmp_path):
    """xrdcp stats the destination before it writes, and XrdSciTokens before 5.6.9 gives no
    stat right with storage.create (upstream commit 81ba2dfd, "add stat permissions to create,
    modify and write"). On Debian's 5.5 an xrdcp upload therefore needs storage.read on the
    path too; curl's PUT does not stat and works with storage.create alone."""
    source = tmp_path / "upload.dat"
    source.write_bytes(b"by xrdcp\n")

    def token(scope: str) -> str:
        return Case(scope, scope, "storage.create", "", 0, True).token(standin_issuer)

    create_only, create_read, read_only = new_name(), new_name(), new_name()
    mark = xrootd.log_size()
    done = xrootd.xrdcp(str(source), xrootd.root_url(create_only), token("storage.create:/c"))
    assert done.returncode != 0
    assert b"Unable to locate" in done.stderr  # refused at the stat, before any write
    assert not (xrootd.base_dir / create_only.lstrip("/")).exists()

    both = token("storage.create:/c storage.read:/c")
    done = xrootd.xrdcp(str(source), xrootd.root_url(create_read), both)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert (xrootd.base_dir / create_read.lstrip("/")).read_bytes() == b"by xrdcp\n"

    done = xrootd.xrdcp(str(source), xrootd.root_url(read_only), token("storage.read:/c"))
    assert done.returncode != 0
    assert not (xrootd.base_dir / read_only.lstrip("/")).exists()
    assert xrootd.token_errors_since(mark) == []


def test_delete_needs_modify_and_on_5_5_read_as_well(xrootd, standin_issuer):
    """XrdHttp stats a file before it deletes it; before 5.6.9 storage.modify gives no stat
    right (see the xrdcp upload test), so a DELETE needs storage.read beside storage.modify."""
    path = new_name()
    xrootd.put_file(path, b"to be deleted\n")

    def delete(scope: str):
        token = Case(scope, scope, "storage.modify", path, 0, False).token(standin_issuer)
        mark = xrootd.log_size()
        return mark, curl(xrootd.url(path), method="DELETE", token=token)

    for scope in ("storage.modify:/c", "storage.create:/c storage.read:/c"):
        mark, refused = delete(scope)
        assert_xrootd_answer(xrootd, mark, refused, status=403, refusal=SCOPE)
        assert (xrootd.base_dir / path.lstrip("/")).exists()

    mark, deleted = delete("storage.modify:/c storage.read:/c")
    assert_xrootd_answer(xrootd, mark, deleted, status=200)
    assert not (xrootd.base_dir / path.lstrip("/")).exists()


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_peers_other_than_loopback_are_refused(xrootd, standin_issuer):
    """XRootD 5.5 listens on every address; `xrd.allow host` makes it refuse other peers."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("This machine has no address other than loopback to connect from.")
    token = Case("read", "storage.read:/c", "storage.read", EMBARGOED, 200, True).token
    mark = xrootd.log_size()

    with pytest.raises(RuntimeError, match="Connection reset|Empty reply|Recv failure"):
        curl(
            f"http://{address}:{xrootd.http_port}{xrootd.base_path}{EMBARGOED}",
            token=token(standin_issuer),
        )

    assert f"Unable to accept TCP connection from [::ffff:{address}]" in xrootd.log_since(mark)
    assert xrootd.get(EMBARGOED, token(standin_issuer)).status == 200
