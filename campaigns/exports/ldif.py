"""LDIF (RFC 2849): posixAccount + inetOrgPerson entries and posixGroup entries with memberUid.

Values that are not a SAFE-STRING (non-ASCII names, a leading space, colon or '<', a trailing
space) are written base64 after `::`; every line is folded to at most 76 characters.

Every value follows the syntax its attribute has in OpenLDAP's core, cosine, inetorgperson and
nis schemas: `mail`, `gecos`, `homeDirectory`, `loginShell` and `memberUid` are IA5String
(ASCII), `cn`, `sn`, `displayName` and `description` are non-empty DirectoryStrings. A value
that cannot be written in its syntax (an internationalised e-mail address) is left out of its
entry with a warning; the entry itself is always written.
"""

import base64
import re
import unicodedata
from collections.abc import Iterator

from django.conf import settings

from campaigns.exports.base import ExportError, ExportReport
from campaigns.exports.posix import (
    campaign_members,
    checked_home_and_shell,
    gecos,
    private_groups,
)
from campaigns.exports.selection import (
    account_rows,
    campaign_rows,
    member_rows_by_campaign,
    snapshot,
)

LINE_WIDTH = 76
MAIL_MAX = 256  # mail is IA5String{256}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _attribute(name: str, value: str) -> str:
    """One `name: value` line, base64 (`name:: ...`) unless value is a SAFE-STRING, folded."""
    if not value:
        return f"{name}:\n"
    # Printable ASCII is a SAFE-STRING unless it starts with space, ':' or '<'; a trailing space
    # would be lost by readers, so it is base64 too. Anything else is simply base64.
    if value.isascii() and value.isprintable() and value[0] not in " :<" and value[-1] != " ":
        line = f"{name}: {value}"
    else:
        line = f"{name}:: {base64.b64encode(value.encode()).decode()}"
    return line + "\n" if len(line) <= LINE_WIDTH else _fold(line)


# Values of 1 to 60 printable ASCII characters that are SAFE-STRINGs: no leading space, ':' or
# '<', no trailing space. With attribute names of at most 13 characters the line fits in 76.
_SHORT_SAFE_VALUES = re.compile(r"(?:[\x21-\x39\x3b\x3d-\x7e](?:[\x20-\x7e]{0,58}[\x21-\x7e])?\n)*")


def _attributes(fields: list[tuple[str, str]]) -> str:
    """Several attribute lines; when all values are short SAFE-STRINGs (the usual case), one
    regular expression checks them all instead of one check per value."""
    text = "\n".join([value for _, value in fields]) + "\n"
    # The count rules out a value that itself holds the separator.
    if text.count("\n") == len(fields) and _SHORT_SAFE_VALUES.fullmatch(text):
        return "".join([f"{name}: {value}\n" for name, value in fields])
    return "".join([_attribute(name, value) for name, value in fields])


def _fold(line: str) -> str:
    """Fold at LINE_WIDTH: continuation lines start with one space. Lines here are ASCII."""
    parts = [line[:LINE_WIDTH]]
    step = LINE_WIDTH - 1
    parts += [" " + line[i : i + step] for i in range(LINE_WIDTH, len(line), step)]
    return "\n".join(parts) + "\n"


def _gecos(display_name: str) -> str:
    """gecos is an IA5String that NSS turns into the passwd GECOS field: the passwd rules,
    then accents dropped and any other non-ASCII removed."""
    text = gecos(display_name)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join(decomposed.encode("ascii", "ignore").decode().split())


_PERSON_CLASSES = "objectClass: top\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n"
_GROUP_CLASSES = "objectClass: top\nobjectClass: posixGroup\n"


def _directory_string(text: str) -> str:
    """Text as a DirectoryString value: whitespace runs made one space, control characters
    dropped (may be empty, which the caller then leaves out)."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _person(
    name: str,
    uid: int,
    display_name: str,
    email: str,
    *,
    people: str,
    home: str,
    shell: str,
    report: ExportReport,
) -> str:
    display_name = _directory_string(display_name)
    full_name = display_name or name
    fields = [
        ("uid", name),
        ("cn", full_name),
        ("sn", full_name.rpartition(" ")[2]),
        ("uidNumber", str(uid)),
        ("gidNumber", str(uid)),
        ("homeDirectory", home.format(name=name, uid=uid)),
        ("loginShell", shell),
    ]
    if ascii_gecos := _gecos(full_name):
        fields.append(("gecos", ascii_gecos))
    if display_name:
        fields.append(("displayName", display_name))
    if email and email.isascii() and email.isprintable() and len(email) <= MAIL_MAX:
        fields.append(("mail", email))
    elif email:
        report.skip(
            "mail left out of an entry: not an IA5String (non-ASCII characters or a line break)"
        )
    dn = _attribute("dn", f"uid={name},{people}")
    return f"{dn}{_PERSON_CLASSES}{_attributes(fields)}\n"


def _group(cn: str, gid: int, *, groups: str, description: str = "", members=()) -> str:
    fields = [("cn", cn), ("gidNumber", str(gid))]
    if description := _directory_string(description):
        fields.append(("description", description))
    fields += [("memberUid", member) for member in members]
    dn = _attribute("dn", f"cn={cn},{groups}")
    return f"{dn}{_GROUP_CLASSES}{_attributes(fields)}\n"


def _base_dn() -> str:
    base = settings.GATEHOUSE_LDAP_BASE_DN.strip()
    if not base or "=" not in base or "\n" in base:
        raise ExportError(
            f"GATEHOUSE_LDAP_BASE_DN {base!r} is not a DN: set it like dc=example,dc=org."
        )
    return base


def ldif_document(report: ExportReport) -> Iterator[str]:
    base = _base_dn()
    home, shell = checked_home_and_shell()
    for setting, value in (("GATEHOUSE_EXPORT_HOME", home), ("GATEHOUSE_EXPORT_SHELL", shell)):
        if not value.isascii():
            raise ExportError(
                f"{setting} {value!r} is not ASCII, but homeDirectory and loginShell are "
                "IA5Strings in LDAP: use an ASCII path."
            )
    return _ldif_lines(report, base, home, shell)


def _ldif_lines(report: ExportReport, base: str, home: str, shell: str) -> Iterator[str]:
    people, groups = f"ou=people,{base}", f"ou=groups,{base}"
    yield "version: 1\n\n"
    for ou, dn in (("people", people), ("groups", groups)):
        yield (
            f"{_attribute('dn', dn)}objectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        )
    private = settings.GATEHOUSE_EXPORT_PRIVATE_GROUPS
    # (name, uid) kept from the people for the private groups: a few MB instead of a query.
    accounts: list[tuple[str, int]] = []
    with snapshot():
        for name, uid, display_name, email in account_rows(report):
            yield _person(
                name,
                uid,
                display_name,
                email,
                people=people,
                home=home,
                shell=shell,
                report=report,
            )
            if private:
                accounts.append((name, uid))
        campaigns = campaign_rows(report)
        for slug, gid, title, members in campaign_members(
            campaigns, member_rows_by_campaign(report)
        ):
            yield _group(slug, gid, groups=groups, description=title, members=members)
        for name, uid in private_groups(campaigns, report, accounts) if private else ():
            yield _group(name, uid, groups=groups)
