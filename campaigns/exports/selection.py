"""Reads for the exports: who is exported, which memberships count, in a stable order.

Every export reads rows with `values_list(...).iterator(chunk_size=CHUNK_SIZE)`: one query per
stream whatever the data size, no model instances, nothing held beyond the current chunk.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Collate

from accounts.models import Account, Identity
from campaigns.models import Campaign, Membership, NodeToken
from campaigns.selectors import current_memberships

CHUNK_SIZE = 5000


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


def identity_rows() -> Iterator[tuple[str, str, str, int]]:
    """(type, identity, account name, uid) for the X.509 and OIDC identities of exported
    accounts, by account name."""
    return (
        Identity.objects.filter(
            _exported("account__"), type__in=[Identity.Type.OIDC, Identity.Type.X509]
        )
        .order_by(binary("account__name"), "type", binary("identity"))
        .values_list("type", "identity", "account__name", "account__uid")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def token_subject_rows() -> Iterator[tuple[str, str, int]]:
    """(account name, token subject, uid) of exported accounts, by name: the `sub` of the
    storage tokens Gatehouse itself issues."""
    return (
        exported_accounts()
        .order_by(binary("name"))
        .values_list("name", "token_subject", "uid")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def account_rows() -> Iterator[tuple[str, int, str, str]]:
    """(name, uid, display name, email) of exported accounts, by name."""
    return (
        exported_accounts()
        .order_by(binary("name"))
        .values_list("name", "uid", "display_name", "email")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def campaign_rows() -> list[tuple[str, int, str]]:
    """(slug, gid, title) of active campaigns, by slug; a few thousand rows, kept in memory."""
    return list(exported_campaigns().order_by(binary("slug")).values_list("slug", "gid", "title"))


def member_rows_by_campaign() -> Iterator[tuple[str, str]]:
    """(campaign slug, account name) of current memberships, by slug then name."""
    return (
        exported_memberships()
        .order_by(binary("campaign__slug"), binary("account__name"))
        .values_list("campaign__slug", "account__name")
        .iterator(chunk_size=CHUNK_SIZE)
    )


def gid_rows_by_account() -> Iterator[tuple[str, int]]:
    """(account name, campaign gid) of current memberships, by name then gid."""
    return (
        exported_memberships()
        .order_by(binary("account__name"), "campaign__gid")
        .values_list("account__name", "campaign__gid")
        .iterator(chunk_size=CHUNK_SIZE)
    )


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
    """The unrevoked node token with this SHA-256 hash (found by index, not by comparing)."""
    return NodeToken.objects.filter(token_hash=token_hash, revoked_at__isnull=True).first()
