"""The five export formats against golden files, and who and what they leave out."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from campaigns.exports import FORMATS, ExportError, ExportReport, render
from campaigns.exports.multimap import multimap_word, oidc_parts
from campaigns.models import Campaign, Membership
from tests.integration.exports.golden import assert_golden

GOLDEN_NAMES = {
    "multimap-ids": "multimap-ids.txt",
    "multimap-campaigns": "multimap-campaigns.txt",
    "group": "group.txt",
    "passwd": "passwd.txt",
    "ldif": "export.ldif",
    "permissions": "permissions.txt",  # no data paths here: tests/integration/permissions/
}


def export_text(format_name: str, report: ExportReport | None = None) -> str:
    return "".join(render(format_name, report or ExportReport()))


@pytest.mark.sqlite
@pytest.mark.parametrize("format_name", list(FORMATS))
def test_export_matches_golden_file(export_data, format_name):
    assert_golden(GOLDEN_NAMES[format_name], export_text(format_name))


@pytest.mark.parametrize("format_name", list(FORMATS))
def test_export_is_deterministic(export_data, format_name):
    assert export_text(format_name) == export_text(format_name)


def test_multimap_ids_reports_what_it_left_out(export_data):
    report = ExportReport()
    export_text("multimap-ids", report)
    assert report.skipped == {
        "OIDC identity not in the form 'SUB=<sub>, ISS=<issuer>'": 1,
        "OIDC identity of issuer https://unknown.example.net/ (no provider configured)": 1,
        # "-lead": its OIDC identity's line and its storage-token subject's line
        "account name that does not match its rule (see manage.py check_account_names)": 2,
    }


@pytest.mark.parametrize("format_name", list(FORMATS))
def test_suspended_and_uidless_accounts_are_left_out(export_data, format_name):
    text = export_text(format_name)
    assert "suspended" not in text and "Sam Suspended" not in text
    assert "svc-nouid" not in text


@pytest.mark.parametrize(
    ("format_name", "lapsed_member"),
    [
        ("multimap-campaigns", "username:lapsed"),
        ("group", ",lapsed"),
        ("ldif", "memberUid: lapsed"),
    ],
)
def test_only_current_memberships_of_active_campaigns_count(
    export_data, format_name, lapsed_member
):
    text = export_text(format_name)
    assert "old-camp" not in text and str(export_data.archived.gid) not in text
    # lapsed: valid_until passed (still "approved") in camp-2025a, expired in camp-2025b.
    assert lapsed_member not in text
    assert ":lapsed" not in text.replace("lapsed:x:", "")


def test_expired_revoked_and_requested_memberships_grant_no_gid(export_data):
    lines = dict(line.split(" ", 1) for line in export_text("multimap-campaigns").splitlines())
    a, b = export_data.camp_a.gid, export_data.camp_b.gid
    assert lines["username:jdoe"] == f"gid:{a}"  # revoked in camp-2025b, archived campaign left out
    assert lines["username:mueller"] == f"gid:{a}"  # only requested in camp-2025b
    assert lines["username:asmith"] == f"gid:{a} gid:{b}"  # valid_until today still counts
    assert "username:lapsed" not in lines


def test_revoking_a_membership_drops_the_gid(export_data):
    gid = export_data.camp_a.gid
    assert f"gid:{gid}" in export_text("multimap-campaigns").split("username:boneil")[1]
    membership = export_data.membership(export_data.boneil, export_data.camp_a)
    membership.state = Membership.State.REVOKED
    membership.save()
    assert "username:boneil" not in export_text("multimap-campaigns")
    assert "boneil" not in export_text("group").split("\n")[0]


def test_multimap_quotes_words_dcache_would_split():
    assert multimap_word("oidc", "abc@escape") == "oidc:abc@escape"
    assert multimap_word("dn", "/C=DE/CN=Jane Doe") == '"dn:/C=DE/CN=Jane Doe"'
    assert multimap_word("dn", '/CN=Bob "B"') == r'"dn:/CN=Bob \"B\""'
    assert multimap_word("dn", "/CN=O'Neil") == '"dn:/CN=O\'Neil"'
    # A backslash is doubled only where dCache would read it as an escape.
    assert multimap_word("dn", r"/CN=Doe\, Jr.") == r'"dn:/CN=Doe\, Jr."'
    assert multimap_word("dn", r"/CN=J\xC3\xBCrgen") == r'"dn:/CN=J\xC3\xBCrgen"'
    assert multimap_word("dn", "/CN=a\\ b\\") == r'"dn:/CN=a\\ b\\"'
    assert multimap_word("dn", '/CN=a\\"') == r'"dn:/CN=a\\\""'


def _dcache_args_words(line: str) -> list[str]:
    """dCache's org.dcache.util.Args word scanner, transcribed, to read our lines back."""
    words, i = [], 0
    while i < len(line):
        while i < len(line) and line[i].isspace():
            i += 1
        if i >= len(line):
            break
        word = []
        while i < len(line) and not line[i].isspace():
            c = line[i]
            if c == "'":
                end = line.index("'", i + 1)
                word.append(line[i + 1 : end])
                i = end + 1
            elif c == '"':
                i += 1
                while line[i] != '"':
                    if line[i] == "\\":
                        nxt = line[i + 1]
                        word.append(nxt if nxt in "'\" -\\" else "\\" + nxt)
                        i += 2
                    else:
                        word.append(line[i])
                        i += 1
                i += 1
            elif c == "\\":
                nxt = line[i + 1]
                word.append(nxt if nxt in "'\" -\\" else "\\" + nxt)
                i += 2
            else:
                word.append(c)
                i += 1
        words.append("".join(word))
    return words


def test_multimap_lines_read_back_to_the_stored_identities(export_data):
    text = export_text("multimap-ids")
    mapped = {}
    for line in text.splitlines():
        principal, username, uid, gid = _dcache_args_words(line)
        mapped[principal] = (username, uid, gid)
        # One uid per line, and the primary gid is the account's own.
        assert uid.removeprefix("uid:") + ",true" == gid.removeprefix("gid:")
    boneil = export_data.boneil
    assert mapped['dn:/DC=org/DC=example/CN=Bob "B" O\'Neil, Jr.'] == (
        "username:boneil",
        f"uid:{boneil.uid}",
        f"gid:{boneil.uid},true",
    )
    assert "dn:/C=DE/O=Example, Inc./CN=Alice Smith" in mapped
    assert r"dn:/C=DE/O=Universit\xC3\xA4t Hamburg/CN=J\xC3\xBCrgen M\xC3\xBCller" in mapped
    assert "dn:/C=DE/O=Example/UID=alee+CN=Ann Lee" in mapped
    assert "dn:/C=DE/O=Example/CN=Ann\\Lee" in mapped  # one backslash, as in the certificate
    assert "oidc:pat@iam@cern" in mapped
    assert "oidc:a1b2c3d4-0001@escape" in mapped
    assert "oidc:asmith@cern" in mapped


def test_every_account_has_one_uid_in_the_multimap(export_data):
    uids = {}
    for line in export_text("multimap-ids").splitlines():
        _, username, uid, _ = _dcache_args_words(line)
        assert uids.setdefault(username, uid) == uid


def test_providers_sharing_an_op_alias_stop_the_export(export_data, settings, tmp_path):
    import json

    from accounts import idps

    path = tmp_path / "clash.json"
    entry = {"client_id": "c", "client_secret": "s", "op_alias": "same"}
    path.write_text(
        json.dumps(
            {"a": {**entry, "issuer": "https://a.example/"}, "b": {**entry, "issuer": "https://b/"}}
        )
    )
    settings.GATEHOUSE_IDPSECRETS = str(path)
    idps._load.cache_clear()
    with pytest.raises(ExportError, match="share the op_alias 'same'"):
        render("multimap-ids", ExportReport())


def test_gatehouse_storage_tokens_map_to_the_same_uid(export_data, settings):
    """Tokens Gatehouse issues carry `sub` = the account's token subject, at its own op alias."""
    settings.GATEHOUSE_ISSUER_OP_ALIAS = "gh"
    lines = export_text("multimap-ids").splitlines()
    jdoe = Account.objects.get(name="jdoe")
    assert f"oidc:{jdoe.token_subject}@gh username:jdoe uid:{jdoe.uid} gid:{jdoe.uid},true" in lines
    suspended = Account.objects.get(name="suspended")
    assert not any(str(suspended.token_subject) in line for line in lines)
    settings.GATEHOUSE_ISSUER_OP_ALIAS = ""
    assert not any("@gh " in line for line in export_text("multimap-ids").splitlines())


def test_gatehouse_op_alias_may_not_clash_with_a_provider(export_data, settings, providers):
    settings.GATEHOUSE_ISSUER_OP_ALIAS = "escape"  # the IAM provider's alias
    with pytest.raises(ExportError, match="GATEHOUSE_ISSUER_OP_ALIAS"):
        render("multimap-ids", ExportReport())


def test_oidc_parts_follow_the_identity_rule():
    assert oidc_parts("SUB=abc, ISS=https://iam.example.org/") == (
        "abc",
        "https://iam.example.org/",
    )
    # What accounts.identities refuses never reaches a multimap line (defence in depth).
    assert oidc_parts("SUB=a, ISS=b, ISS=https://x/") is None
    assert oidc_parts("SUB=, ISS=https://x/") is None
    assert oidc_parts("abc") is None


def test_passwd_uses_home_and_shell_settings(export_data, settings):
    settings.GATEHOUSE_EXPORT_HOME = "/data/home/{uid}/{name}"
    settings.GATEHOUSE_EXPORT_SHELL = "/bin/bash"
    line = next(line for line in export_text("passwd").splitlines() if line.startswith("jdoe:"))
    uid = export_data.jdoe.uid
    assert line == f"jdoe:x:{uid}:{uid}:Jane Doe:/data/home/{uid}/jdoe:/bin/bash"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("GATEHOUSE_EXPORT_HOME", "/home/{login}"),
        ("GATEHOUSE_EXPORT_HOME", "/home/{name}:x"),
        ("GATEHOUSE_EXPORT_SHELL", "nologin"),
        ("GATEHOUSE_EXPORT_SHELL", "/bin/sh\nroot"),
    ],
)
def test_settings_that_would_break_passwd_lines_are_refused(export_data, settings, setting, value):
    setattr(settings, setting, value)
    with pytest.raises(ExportError, match=setting):
        render("passwd", ExportReport())


def test_gecos_has_no_field_separators(export_data):
    Account.objects.filter(pk=export_data.jdoe.pk).update(display_name="Jane:\nDoe,\tPhD")
    line = next(line for line in export_text("passwd").splitlines() if line.startswith("jdoe:"))
    assert line.split(":")[4] == "Jane Doe PhD"
    assert len(line.split(":")) == 7


def test_private_groups_can_be_turned_off(export_data, settings):
    settings.GATEHOUSE_EXPORT_PRIVATE_GROUPS = False
    names = [line.split(":")[0] for line in export_text("group").splitlines()]
    assert names == ["camp-2025a", "camp-2025b"]
    assert "cn=jdoe," not in export_text("ldif")


def test_private_group_clashing_with_a_campaign_is_left_out(export_data):
    from accounts.services import account_create

    account_create(name="camp-2025b", display_name="Unlucky name")
    report = ExportReport()
    names = [line.split(":")[0] for line in export_text("group", report).splitlines()]
    assert names.count("camp-2025b") == 1
    assert report.skipped == {
        "private group with the name of a campaign group": 1,
        # "-lead" (named under Rucio's older rule): its private group and its membership
        "account name that does not match its rule (see manage.py check_account_names)": 2,
    }


def test_ldif_uses_base_dn_and_base64_for_utf8(export_data, settings):
    settings.GATEHOUSE_LDAP_BASE_DN = "ou=Gäste,dc=example,dc=org"
    text = export_text("ldif")
    dn = "uid=jdoe,ou=people,ou=Gäste,dc=example,dc=org"
    assert f"dn:: {base64.b64encode(dn.encode()).decode()}" in _unfold(text)
    assert all(len(line) <= 76 for line in text.splitlines())
    assert "Müller" not in text  # UTF-8 values only in base64


def _unfold(text: str) -> str:
    return text.replace("\n ", "")


def test_ldif_folds_long_lines_at_76(export_data):
    Account.objects.filter(pk=export_data.jdoe.pk).update(display_name="J" * 200)
    text = export_text("ldif")
    assert all(len(line) <= 76 for line in text.splitlines())
    assert f"cn: {'J' * 200}" in _unfold(text).splitlines()


def test_campaign_with_a_future_end_date_still_counts(export_data):
    membership = export_data.membership(export_data.mueller, export_data.camp_a)
    assert membership.valid_until > timezone.localdate()
    membership.valid_until = timezone.localdate() - timedelta(days=1)
    membership.save()
    assert "username:mueller" not in export_text("multimap-campaigns")


def test_archiving_a_campaign_removes_its_group(export_data):
    Campaign.objects.filter(pk=export_data.camp_b.pk).update(status=Campaign.Status.ARCHIVED)
    assert not any(line.startswith("camp-2025b:") for line in export_text("group").splitlines())


@pytest.mark.parametrize(
    ("format_name", "queries"),
    [("multimap-ids", 4), ("multimap-campaigns", 1), ("group", 3), ("passwd", 1), ("ldif", 3)],
)
def test_query_count_does_not_grow_with_the_data(
    export_data, django_assert_max_num_queries, format_name, queries
):
    from accounts.models import Identity
    from accounts.services import account_create

    with django_assert_max_num_queries(queries):
        small = export_text(format_name)
    for number in range(40):
        account = account_create(name=f"bulk{number:02d}", display_name=f"Bulk {number}")
        Identity.objects.create(account=account, type="X509", identity=f"/CN=Bulk {number}")
        Membership.objects.create(
            account=account, campaign=export_data.camp_b, state=Membership.State.APPROVED
        )
    with django_assert_max_num_queries(queries):
        large = export_text(format_name)
    assert len(large) > len(small)


def test_ldif_values_with_line_breaks_are_base64(export_data):
    Account.objects.filter(pk=export_data.jdoe.pk).update(display_name="Jane\ndn: cn=evil")
    text = export_text("ldif")
    assert "\ndn: cn=evil" not in text
    assert "cn: Jane dn: cn=evil" in _unfold(text)  # a DirectoryString: the break is a space


def test_ldif_leaves_out_a_mail_value_that_is_not_ia5_and_keeps_the_entry(export_data):
    Account.objects.filter(pk=export_data.jdoe.pk).update(email="jdoe@example.org\ndn: cn=evil")
    report = ExportReport()
    text = _unfold(export_text("ldif", report))
    assert "cn=evil" not in text
    assert "dn: uid=jdoe,ou=people,dc=gatehouse,dc=example" in text
    assert "dn: uid=juergen,ou=people,dc=gatehouse,dc=example" in text
    assert "mail: jdoe" not in text and "müller.example" not in text
    assert (
        report.skipped[
            "mail left out of an entry: not an IA5String (non-ASCII characters or a line break)"
        ]
        == 2
    )


def test_passwd_and_group_lines_cannot_be_split(export_data):
    Account.objects.filter(pk=export_data.jdoe.pk).update(
        display_name="Jane\nroot:x:0:0::/:/bin/sh"
    )
    lines = export_text("passwd").splitlines()
    assert len(lines) == 8
    assert not any(line.startswith("root:") for line in lines)
