"""manage.py account / identity: output for people and scripts, refusals, exit codes."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Account, AuditEvent, Identity
from accounts.services import identity_add

ROOT = Path(__file__).resolve().parents[2]
JANE_DN = "/C=DE/O=GermanGrid/CN=Jane Doe"
OIDC = "SUB=0c1d-22, ISS=https://iam.example.org/"


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_account_add_allocates_a_uid_and_prints_it():
    text = run("account", "add", "jdoe", "--email", "jdoe@example.org")
    jdoe = Account.objects.get(name="jdoe")
    assert text.strip() == f"Added USER account jdoe (uid {jdoe.uid})."
    assert jdoe.email == "jdoe@example.org"
    assert AuditEvent.objects.filter(action="account.create", account=jdoe).exists()


@pytest.mark.django_db
def test_account_add_json_and_type():
    data = json.loads(run("account", "add", "rucio-robot", "--type", "SERVICE", "--json"))
    assert data["name"] == "rucio-robot"
    assert data["type"] == "SERVICE"
    assert isinstance(data["uid"], int)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["account", "add", "member"], "Account 'member' already exists"),
        (["account", "add", "Bad Name"], "name:"),
        (["account", "add", "mallory\n"], "name:"),  # issue 11: `$` let this in
        (["account", "add", "x", "--type", "ROBOT"], "invalid choice"),
        (["account", "suspend", "nobody", "--reason", "r"], "There is no account 'nobody'"),
        (["account", "suspend", "member"], "--reason"),
        (["account", "reactivate", "member"], "not suspended"),
    ],
)
def test_account_refusals_are_sentences(member, args, says):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert says in str(caught.value)


@pytest.mark.django_db
def test_account_list_is_an_aligned_table_and_filters_by_status(member, outsider, admin):
    run("account", "suspend", "outsider", "--reason", "left")
    lines = run("account", "list").splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATUS", "UID", "IDENTITIES", "EMAIL", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["admin", "member", "outsider"]
    status_column = lines[0].index("STATUS")
    assert [line[status_column:].split()[0] for line in lines[1:]] == [
        "ACTIVE",
        "ACTIVE",
        "SUSPENDED",
    ]
    suspended = json.loads(run("account", "list", "--status", "SUSPENDED", "--json"))
    assert [(a["name"], a["status_reason"]) for a in suspended] == [("outsider", "left")]
    assert run("account", "list", "--status", "DELETED").strip() == "No accounts match."


@pytest.mark.django_db
def test_suspend_and_reactivate(member):
    assert "Suspended account member: on leave" in run(
        "account", "suspend", "member", "--reason", "on leave"
    )
    member.refresh_from_db()
    assert member.status == "SUSPENDED"
    data = json.loads(run("account", "reactivate", "member", "--json"))
    assert data["status"] == "ACTIVE"
    assert AuditEvent.objects.filter(action="account.reactivate", account=member).exists()


@pytest.mark.django_db
def test_identity_add_normalises_a_dn_and_lists_it(member):
    text = run(
        "identity",
        "add",
        "--account",
        "member",
        "--type",
        "X509",
        "--id",
        "CN=Jane Doe,O=GermanGrid,C=DE",
    )
    assert text.strip() == f"Linked X509 identity {JANE_DN} to member."
    run(
        "identity",
        "add",
        "--account",
        "member",
        "--type",
        "OIDC",
        "--id",
        OIDC,
        "--email",
        "j@x.org",
    )
    rows = json.loads(run("identity", "list", "--account", "member", "--json"))
    assert [(r["type"], r["identity"], r["source"]) for r in rows] == [
        ("OIDC", OIDC, "manual"),
        ("X509", JANE_DN, "manual"),
    ]
    assert rows[0]["email"] == "j@x.org"
    table = run("identity", "list").splitlines()
    assert table[0].split() == ["ACCOUNT", "TYPE", "SOURCE", "IDP", "ADDED", "IDENTITY"]
    assert table[2].endswith(JANE_DN)


@pytest.mark.django_db
def test_identity_list_for_one_account_and_type(member, outsider):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    identity_add(account=outsider, type="OIDC", identity=OIDC, actor=None)
    assert (
        json.loads(run("identity", "list", "--account", "outsider", "--type", "X509", "--json"))
        == []
    )
    rows = json.loads(run("identity", "list", "--type", "X509", "--json"))
    assert [r["account"] for r in rows] == ["member"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--account", "nobody", "--type", "X509", "--id", JANE_DN],
            "There is no account 'nobody'",
        ),
        (
            ["--account", "member", "--type", "X509", "--id", "Jane Doe"],
            "'Jane' is not an attribute",
        ),
        (["--account", "member", "--type", "OIDC", "--id", "0c1d-22"], "not an OIDC identity"),
        (["--account", "member", "--type", "SSH", "--id", "x"], "invalid choice"),
        (["--account", "member", "--type", "X509"], "--id"),
    ],
)
def test_identity_add_refusals(member, args, says):
    with pytest.raises(CommandError) as caught:
        run("identity", "add", *args)
    assert says in str(caught.value)
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_identity_add_duplicate_names_the_holder(member, outsider):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    with pytest.raises(CommandError, match="already linked to account 'member'"):
        run(
            "identity",
            "add",
            "--account",
            "outsider",
            "--type",
            "X509",
            "--id",
            "CN=Jane Doe,O=GermanGrid,C=DE",
        )


@pytest.mark.django_db
def test_identity_remove_accepts_either_dn_form(member):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    text = run(
        "identity",
        "remove",
        "--account",
        "member",
        "--type",
        "X509",
        "--id",
        "CN=Jane Doe,O=GermanGrid,C=DE",
    )
    assert text.strip() == f"Removed X509 identity {JANE_DN} from member."
    assert not Identity.objects.exists()
    assert AuditEvent.objects.filter(action="identity.remove", account=member).exists()


@pytest.mark.django_db
def test_identity_remove_of_another_accounts_identity_says_whose(member, outsider):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    with pytest.raises(CommandError, match="belongs to account 'member'"):
        run("identity", "remove", "--account", "outsider", "--type", "X509", "--id", JANE_DN)
    assert Identity.objects.count() == 1


@pytest.mark.django_db
def test_identity_remove_last_login_needs_force(member):
    identity_add(account=member, type="OIDC", identity=OIDC, actor=None)
    with pytest.raises(CommandError, match="Use --force"):
        run("identity", "remove", "--account", "member", "--type", "OIDC", "--id", OIDC)
    data = json.loads(
        run(
            "identity",
            "remove",
            "--account",
            "member",
            "--type",
            "OIDC",
            "--id",
            OIDC,
            "--force",
            "--json",
        )
    )
    assert data["removed"] is True
    assert not Identity.objects.exists()


def _manage(*args) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_exit_codes_from_the_shell(member, outsider):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)

    ok = _manage("identity", "list", "--account", "member", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["identity"] == JANE_DN

    unknown = _manage("identity", "add", "--account", "nobody", "--type", "X509", "--id", JANE_DN)
    assert unknown.returncode == 1
    assert "There is no account 'nobody'" in unknown.stderr

    malformed = _manage(
        "identity", "add", "--account", "outsider", "--type", "X509", "--id", "CN=x,C=Germany"
    )
    assert malformed.returncode == 1
    assert "two-letter country code" in malformed.stderr

    duplicate = _manage(
        "identity", "add", "--account", "outsider", "--type", "X509", "--id", JANE_DN
    )
    assert duplicate.returncode == 1
    assert "already linked to account 'member'" in duplicate.stderr

    usage = _manage("account", "list", "--status", "BOGUS")
    assert usage.returncode == 2
    assert "invalid choice" in usage.stderr
    assert Identity.objects.count() == 1


@pytest.mark.django_db
def test_promote_makes_an_sso_account_the_first_admin_and_demote_undoes_it(member):
    assert not member.is_admin
    text = run("account", "promote", "member", "--reason", "first admin")
    member.refresh_from_db()
    assert member.is_staff and member.is_superuser and member.is_admin
    assert "member is an admin" in text
    event = AuditEvent.objects.get(action="account.promote", account=member)
    assert event.comment == "first admin"
    run("account", "promote", "member")  # a second promote changes nothing and records nothing
    assert AuditEvent.objects.filter(action="account.promote").count() == 1
    run("account", "demote", "member")
    member.refresh_from_db()
    assert not member.is_admin
    assert AuditEvent.objects.filter(action="account.demote", account=member).exists()


@pytest.mark.django_db
def test_promote_refuses_unknown_and_suspended_accounts(member):
    with pytest.raises(CommandError, match="There is no account 'nobody'"):
        run("account", "promote", "nobody")
    run("account", "suspend", "member", "--reason", "left the institute")
    with pytest.raises(CommandError, match="reactivate it first"):
        run("account", "promote", "member")
