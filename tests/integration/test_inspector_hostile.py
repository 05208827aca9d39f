"""Issue 11 case 3: hostile headers and claims never crash the token inspector.

`"exp": 1e400` (and iat, nbf, a 400-digit integer) raised OverflowError and a lone surrogate
(`"iss": "\\ud800"`) a UnicodeEncodeError: the anonymous Inspect page answered 500 and
`inspect_token` printed a traceback. Each must be a failed check with a sentence. A property
test feeds arbitrary JSON headers and claims, signed by a trusted issuer's key or not, to the
library, the page and the command.
"""

import base64
import io
import json
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.harness.jwks_server import LoopbackIssuer
from tokens.inspect import inspect
from tokens.inspection import Status

HOSTILE_NUMBERS = ["1e400", "-1e400", "1" + "0" * 400, "-" + "9" * 400, "1e300", "-0.0", "1e-400"]
HOSTILE_STRINGS = ['"\\ud800"', '"\\udfff x"', '"a\\u0000b"', '"\\ud83d\\ude00"', '"\\u2028"']
KNOWN = ["exp", "iat", "nbf", "iss", "sub", "aud", "scope", "wlcg.ver", "wlcg.groups", "act"]
HEADER_KNOWN = ["alg", "kid", "typ", "jku", "x5u", "jwk", "crit", "cty"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
fragments = (
    json_values.map(lambda v: json.dumps(v))
    | st.sampled_from(HOSTILE_NUMBERS + HOSTILE_STRINGS)
    | st.lists(st.sampled_from(HOSTILE_NUMBERS + HOSTILE_STRINGS), max_size=3).map(
        lambda items: "[" + ",".join(items) + "]"
    )
)


def json_object_text(base: dict, names: list[str]):
    """A JSON object's text: `base` with some members replaced by arbitrary or hostile values."""
    keys = st.sampled_from(names) | st.text(max_size=10).map(json.dumps).map(json.loads)
    return st.dictionaries(keys, fragments, max_size=5).map(
        lambda extra: (
            "{"
            + ",".join(
                f"{json.dumps(k)}:{v}"
                for k, v in {**{k: json.dumps(v) for k, v in base.items()}, **extra}.items()
            )
            + "}"
        )
    )


@pytest.fixture(scope="module")
def issuer():
    with LoopbackIssuer() as server:
        yield server


@pytest.fixture
def trusted(issuer, settings):
    settings.GATEHOUSE_EXTRA_ISSUERS = json.dumps([{"issuer": issuer.issuer, "name": "Test"}])
    return issuer


def token_text(issuer, header: str, claims: str, signed: bool) -> str:
    signing_input = f"{b64(header.encode('utf-8', 'surrogatepass'))}.{b64(claims.encode('utf-8', 'surrogatepass'))}"
    signature = b"not a signature"
    if signed:
        key = issuer.private_keys["rsa1"]
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def run_command(token: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO(token)
    try:
        call_command("inspect_token", "--json", stdout=out, stderr=err)
        code = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        sys.stdin = stdin
    return code, out.getvalue()


def assert_survives(token: str) -> None:
    """Library, page and command: a report, a 200 page, a JSON answer; never an exception."""
    report = inspect(token, target="https://storage.example.org")
    body = report.inspection.to_dict()
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # printable as UTF-8
    for check in report.inspection.checks:
        assert check.explanation.strip().endswith((".", ")", "?")), check
    response = Client().post(
        reverse("tokens:inspect"), {"token": token, "target": "", "audience": ""}
    )
    assert response.status_code == 200
    response.content.decode("utf-8")
    code, out = run_command(token)
    assert code in (0, 1)
    assert json.loads(out)["checks"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "claim, value",
    [(c, v) for c in ("exp", "iat", "nbf") for v in ("1e400", "-1e400", "1" + "0" * 400)]
    + [("iss", '"\\ud800"'), ("sub", '"\\ud800"'), ("scope", '"storage.read:/\\udfff"')],
)
def test_each_reported_crash_is_a_failed_check_with_a_sentence(trusted, claim, value):
    claims = json.dumps(trusted.claims())[:-1] + f", {json.dumps(claim)}: {value}" + "}"
    claims = (
        claims.replace(f'"{claim}": ', '"_replaced": ', 1) if claim in trusted.claims() else claims
    )
    token = token_text(trusted, '{"alg":"RS256","kid":"rsa1","typ":"at+jwt"}', claims, True)
    report = inspect(token, target="https://storage.example.org")
    failed = [c for c in report.inspection.checks if c.status is Status.FAIL]
    assert failed and not report.inspection.valid
    assert all(c.explanation.endswith(".") for c in failed)
    assert_survives(token)


@pytest.mark.django_db
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_time_far_beyond_year_9999_fails_its_own_check(trusted, claim):
    token = trusted.sign(trusted.claims(**{claim: 10**25}), headers={"typ": "at+jwt"})
    checks = {
        c.id: c for c in inspect(token, target="https://storage.example.org").inspection.checks
    }
    assert checks[claim].status is Status.FAIL
    assert "before the year 10000" in checks[claim].explanation


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), signed=st.booleans())
@example(data=None, signed=True)
def test_arbitrary_headers_and_claims_never_crash(trusted, data, signed):
    if data is None:
        header, claims = '{"alg":"RS256","kid":"rsa1"}', '{"exp": 1e400, "iss": "\\ud800"}'
    else:
        header = data.draw(
            json_object_text({"alg": "RS256", "kid": "rsa1", "typ": "at+jwt"}, HEADER_KNOWN)
        )
        claims = data.draw(json_object_text(trusted.claims(), KNOWN))
    assert_survives(token_text(trusted, header, claims, signed))
