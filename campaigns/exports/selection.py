"""Reads for the exports: who is exported, which memberships count, in a stable order.

Every export reads rows with `values_list(...).iterator(chunk_size=CHUNK_SIZE)`: one query per
stream whatever the data size, no model instances, nothing held beyond the current chunk.
"""

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Collate

from accounts.models import ACCOUNT_NAME_RE, Account, Identity
from campaigns.exports.base import ExportError, ExportReport
from campaigns.models import CAMPAIGN_SLUG_RE, Campaign, Membership, NodeToken
from campaigns.selectors import current_memberships

CHUNK_SIZE = 5000

# The account rule includes the POSIX one (no leading '-'): manage.py check_account_names lists
# older accounts that break it.
ACCOUNT_NAME = (re.compile(ACCOUNT_NAME_RE), "account name")
# What the export's warning says of a left-out account, and what to do about it.
NAME_HINTS = {"account name": " (see manage.py check_account_names)"}
CAMPAIGN_SLUG = (re.compile(CAMPAIGN_SLUG_RE), "campaign name")


def fully_valid(rows: Iterable[tuple], report: ExportReport | None, **columns) -> Iterator[tuple]:
    """Rows whose columns (index=(pattern, what)) each match their rule as a whole string.

    Defence in depth behind the model validators: a value saved before a rule tightened (a
    name ending in a newline) never reaches a file. With a report the row is left out and
    counted; without one the export is refused.
    """
    for row in rows:
        for index, (pattern, what) in columns.items():
            value = row[int(index.lstrip("_"))]
            if not (isinstance(value, str) and pattern.fullmatch(value)):
                if report is None:
                    raise ExportError(
                        f"The {what} {value!r} does not match its rule, so the export stops: "
                        "fix or remove it in the admin pages, then export again."
                    )
                report.skip(f"{what} that does not match its rule{NAME_HINTS.get(what, '')}")
                break
        else:
            yield row


def binary(field: str) -> Collate:
    """Order by code point, so the files come out the same whatever the database locale."""
    return Collate(F(field), "C" if connection.vendor == "postgresql" else "BINARY")


def _exported(prefix: str = "") -> Q:
    """Accounts that exist on the storage nodes: ACTIVE and holding a uid."""
    return Q(**{f"{prefix}status": Account.Status.ACTIVE, f"{prefix}uid__isnull": False})


def exported_accounts() -> QuerySet[Account]:
    return Account.objects.filter(_exported())


def exported_memberships() -> QuerySet[Membership]:
    """The access rule's current memberships (campaigns.selectors.current_memberships),
    narrowed to accounts that hold a uid."""
    return current_memberships().filter(_exported("account__"))


def exported_campaigns() -> QuerySet[Campaign]:
    return Campaign.objects.filter(status=Campaign.Status.ACTIVE)


def identity_rows(report: ExportReport | None = None) -> Iterator[tuple[str, str, str, int]]:
    """(type, identity, account name, uid) for the X.509 and OIDC identities of exported
    accounts, by account name."""
    rows = (
        Identity.objects.filter(
            _exported("account__"), type__in=[Identity.Type.OIDC, Identity.Type.X509]
        )
        .order_by(binary("account__name"), "type", binary("identity"))
        .values_list("type", "identity", "account__name", "account__uid")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return fully_valid(rows, report, _2=ACCOUNT_NAME)


def token_subject_rows(report: ExportReport | None = None) -> Iterator[tuple[str, str, int]]:
    """(account name, token subject, uid) of exported accounts, by name: the `sub` of the
    storage tokens Gatehouse itself issues."""
    rows = (
        exported_accounts()
        .order_by(binary("name"))
        .values_list("name", "token_subject", "uid")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return fully_valid(((n, str(s), u) for n, s, u in rows), report, _0=ACCOUNT_NAME)


def oidc_identity_rows_with_at() -> Iterator[tuple[str, str]]:
    """(identity, account name) of exported accounts' OIDC identities whose text holds an `@`
    before the issuer: the only subjects dCache's legacy multimap rule can confuse."""
    return (
        Identity.objects.filter(
            _exported("account__"), type=Identity.Type.OIDC, identity__regex=r"^SUB=[^@]*@.*, ISS="
        )
        .order_by(binary("account__name"), binary("identity"))
        .values_list("identity", "account__name")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def oidc_identity_rows_named(identities: list[str]) -> list[tuple[str, str]]:
    """(identity, account name) of exported accounts' OIDC identities among these strings."""
    if not identities:
        return []
    return list(
        Identity.objects.filter(
            _exported("account__"), type=Identity.Type.OIDC, identity__in=identities
        ).values_list("identity", "account__name")
    )


def account_rows(report: ExportReport | None = None) -> Iterator[tuple[str, int, str, str]]:
    """(name, uid, display name, email) of exported accounts, by name."""
    rows = (
        exported_accounts()
        .order_by(binary("name"))
        .values_list("name", "uid", "display_name", "email")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return fully_valid(rows, report, _0=ACCOUNT_NAME)


def campaign_rows(report: ExportReport | None = None) -> list[tuple[str, int, str]]:
    """(slug, gid, title) of active campaigns, by slug; a few thousand rows, kept in memory."""
    rows = exported_campaigns().order_by(binary("slug")).values_list("slug", "gid", "title")
    return list(fully_valid(rows, report, _0=CAMPAIGN_SLUG))


def member_rows_by_campaign(report: ExportReport | None = None) -> Iterator[tuple[str, str]]:
    """(campaign slug, account name) of current memberships, by slug then name."""
    rows = (
        exported_memberships()
        .order_by(binary("campaign__slug"), binary("account__name"))
        .values_list("campaign__slug", "account__name")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return fully_valid(rows, report, _0=CAMPAIGN_SLUG, _1=ACCOUNT_NAME)


def gid_rows_by_account(report: ExportReport | None = None) -> Iterator[tuple[str, int]]:
    """(account name, campaign gid) of current memberships, by name then gid."""
    rows = (
        exported_memberships()
        .order_by(binary("account__name"), "campaign__gid")
        .values_list("account__name", "campaign__gid")
        .iterator(chunk_size=CHUNK_SIZE)
    )
    return fully_valid(rows, report, _0=ACCOUNT_NAME)


@contextmanager
def snapshot():
    """One consistent view of the data for an export that reads several streams.

    On PostgreSQL outside any transaction: a read-only REPEATABLE READ transaction. Inside an
    existing transaction (tests, callers that hold one) it adds nothing.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def node_token_for_secret(token_hash: str) -> NodeToken | None:
    """The node token with this SHA-256 hash that is active or in its grace period after a
    rotation (found by index, not by comparing)."""
    token = NodeToken.objects.filter(token_hash=token_hash).first()
    if token is None or token.state() == "revoked":
        return None
    return token
