"""group(5) and passwd(5) files: campaign groups, private groups, and the accounts."""

import re
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter

from django.conf import settings

from campaigns.exports.base import ExportError, ExportReport
from campaigns.exports.selection import (
    account_rows,
    campaign_rows,
    member_rows_by_campaign,
    snapshot,
)

_NOT_IN_FIELD = re.compile(r"[:\x00-\x1f\x7f\x85\u2028\u2029]")
_NOT_IN_GECOS = re.compile(r"[:,\x00-\x1f\x7f\x85\u2028\u2029]+")


def gecos(display_name: str) -> str:
    """The display name as a GECOS field: no `:` (field separator), no `,` (sub-field
    separator), no line breaks or control characters."""
    return " ".join(_NOT_IN_GECOS.sub(" ", display_name).split())


def checked_home_and_shell() -> tuple[str, str]:
    """GATEHOUSE_EXPORT_HOME and GATEHOUSE_EXPORT_SHELL, refused if they would break a line."""
    home, shell = settings.GATEHOUSE_EXPORT_HOME, settings.GATEHOUSE_EXPORT_SHELL
    try:
        sample = home.format(name="name", uid=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ExportError(
            f"GATEHOUSE_EXPORT_HOME {home!r} is not a valid template: use only {{name}} and "
            "{uid}, for example /home/{name}."
        ) from exc
    for setting, value in (("GATEHOUSE_EXPORT_HOME", sample), ("GATEHOUSE_EXPORT_SHELL", shell)):
        if not value.startswith("/") or _NOT_IN_FIELD.search(value):
            raise ExportError(
                f"{setting} {value!r} must be an absolute path without ':' or line breaks."
            )
    return home, shell


def campaign_members(campaigns, member_rows) -> Iterator[tuple[str, int, str, list[str]]]:
    """(slug, gid, title, member names) per campaign; both inputs sorted by slug (the row
    readers already left out, with a warning, names that are not portable POSIX names)."""
    groups = groupby(member_rows, key=itemgetter(0))
    pending = next(groups, None)
    for slug, gid, title in campaigns:
        # Members of a campaign missing from the list (archived meanwhile) are passed over.
        while pending is not None and pending[0] < slug:
            pending = next(groups, None)
        members: list[str] = []
        if pending is not None and pending[0] == slug:
            members = [name for _, name in pending[1]]
            pending = next(groups, None)
        yield slug, gid, title, members


def private_groups(
    campaigns, report: ExportReport, accounts: Iterable[tuple[str, int]] | None = None
) -> Iterator[tuple[str, int]]:
    """(name, gid = uid) per exported account, unless it would clash with a campaign group.
    `accounts`: (name, uid) pairs already read, by name; read from the database if not given."""
    slugs = {slug for slug, _, _ in campaigns}
    gids = {gid for _, gid, _ in campaigns}
    if accounts is None:
        accounts = ((name, uid) for name, uid, _, _ in account_rows(report))
    for name, uid in accounts:
        if name in slugs:
            report.skip("private group with the name of a campaign group")
        elif uid in gids:
            report.skip("private group whose uid equals a campaign gid")
        else:
            yield name, uid


def group(report: ExportReport) -> Iterator[str]:
    """`<slug>:x:<gid>:<member>,<member>` per active campaign, then `<name>:x:<uid>:`."""
    with snapshot():
        campaigns = campaign_rows(report)
        for slug, gid, _, members in campaign_members(campaigns, member_rows_by_campaign(report)):
            yield f"{slug}:x:{gid}:{','.join(members)}\n"
        if settings.GATEHOUSE_EXPORT_PRIVATE_GROUPS:
            for name, uid in private_groups(campaigns, report):
                yield f"{name}:x:{uid}:\n"


def passwd(report: ExportReport) -> Iterator[str]:
    """`name:x:uid:gid:GECOS:home:shell`; the primary gid is the account's private group."""
    home, shell = checked_home_and_shell()
    return _passwd_lines(home, shell, report)


def _passwd_lines(home: str, shell: str, report: ExportReport) -> Iterator[str]:
    for name, uid, display_name, _ in account_rows(report):
        directory = home.format(name=name, uid=uid)
        yield f"{name}:x:{uid}:{uid}:{gecos(display_name)}:{directory}:{shell}\n"
