"""dCache's reading of the multimap: --verify, the OIDC legacy rule, one identity per DN form,
and account names that shadow-utils would misread."""

import io
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import idps
from accounts.models import Identity
from accounts.services import account_create
from campaigns.exports import ExportError, ExportReport, render
from campaigns.exports.multimap import storage_dn
from tests.integration.exports.conftest import CERN, IAM


def verify(path) -> tuple[str, str | None]:
    out = io.StringIO()
    try:
        call_command("export_mappings", "--verify", str(path), stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def test_verify_accepts_our_own_export(export_data, tmp_path):
    path = tmp_path / "multimap.conf"
    path.write_text("".join(render("multimap-ids", ExportReport())), encoding="utf-8")
    out, error = verify(path)
    assert error is None
    assert out.strip().endswith("18 mappings, all read by dCache as written.")


def test_verify_flags_a_hand_made_file(db, tmp_path):
    path = tmp_path / "hand.conf"
    path.write_bytes(
        b"# written by hand\n"
        b'"dn:/C=DE/O=GermanGrid/CN=Jane Doe" username:jdoe uid:20000 gid:20000,true\n'
        b"dn:/C=DE/O=GermanGrid/CN=Bad Line username:bad uid:1\n"
        b'  "dn:/C=DE/O=GermanGrid/CN=Jane Doe" username:jane uid:20001 gid:20001,true\n'
        b"oidc:pat@iam username:pat uid:5 gid:5,true\n"
        b"oidc:pat@iam@cern username:other uid:6 gid:6,true\n"
        b"username:jdoe gid:30000,true,false\n"
    )
    out, error = verify(path)
    assert error is not None
    assert f'{path}:3: dCache drops this line: missing ":" in "Line".' in out
    assert f"{path}:7: dCache drops this line: too many commas" in out
    assert f"{path}:2,4: dn:/C=DE/O=GermanGrid/CN=Jane Doe maps to uids 20000, 20001" in out
    assert f"{path}:5,6: the OIDC login of subject 'pat@iam' at cern maps to uids 5, 6" in out


def test_verify_refuses_a_file_with_an_invalid_utf8_byte(db, tmp_path):
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"ok:x\n" + '"dn:/CN=Jürgen" username:j uid:1\n'.encode("latin-1"))
    out, error = verify(path)
    assert error is not None
    assert f"{path}:2: byte 0xFC is not UTF-8: dCache cannot read this file at all" in out


def test_a_subject_that_another_line_matches_by_the_legacy_rule_stops_the_export(
    export_data, settings
):
    # pat's subject at CERN is "pat@iam"; once IAM's alias is "iam", the line for subject "pat"
    # at IAM is "oidc:pat@iam", which dCache also matches for pat's login: refused.
    other = account_create(name="patrick", display_name="Patrick")
    Identity.objects.create(account=other, type="OIDC", identity=f"SUB=pat, ISS={IAM}")
    assert "".join(render("multimap-ids", ExportReport()))  # alias "escape": no clash yet
    secrets = Path(settings.GATEHOUSE_IDPSECRETS)
    config = json.loads(secrets.read_text())
    config["iam"]["op_alias"] = "iam"
    secrets.write_text(json.dumps(config))
    idps._load.cache_clear()
    with pytest.raises(ExportError, match="would also match the login of account 'pat'"):
        render("multimap-ids", ExportReport())


def test_the_same_account_on_both_sides_of_the_legacy_rule_is_not_refused(export_data):
    Identity.objects.create(account=export_data.pat, type="OIDC", identity=f"SUB=pat, ISS={CERN}")
    # "oidc:pat@cern" also matches subject "pat@cern" at any provider: nobody else has it.
    assert "oidc:pat@cern username:pat" in "".join(render("multimap-ids", ExportReport()))


@pytest.mark.parametrize(
    "given",
    [
        "CN=Ann Lee+UID=alee,O=Universität Hamburg,C=DE",
        "/C=DE/O=Universität Hamburg/CN=Ann Lee+UID=alee",
        r"/C=DE/O=Universit\xC3\xA4t Hamburg/UID=alee+CN=Ann Lee",
    ],
)
def test_identity_add_takes_every_dn_form_to_one_identity(db, given):
    account = account_create(name="alee", display_name="Ann Lee")
    out = io.StringIO()
    call_command(
        "identity", "add", "--account", "alee", "--type", "X509", "--id", given, stdout=out
    )
    stored = Identity.objects.get(account=account, type="X509").identity
    assert stored == "/C=DE/O=Universität Hamburg/UID=alee+CN=Ann Lee"  # readable UTF-8
    assert storage_dn(stored) == r"/C=DE/O=Universit\xC3\xA4t Hamburg/UID=alee+CN=Ann Lee"


def test_an_account_name_with_a_leading_dash_is_refused_with_the_reason(db):
    with pytest.raises(ValidationError, match="not starting with '-'"):
        account_create(name="-lead")


def test_check_account_names_reports_the_old_ones(export_data):
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 account name"):
        call_command("check_account_names", stdout=out)
    assert "-lead" in out.getvalue()
