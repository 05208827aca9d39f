"""A cheap ETag for an export: what the file depends on, without rendering the file.

The data part is one aggregate query (row count and latest `updated` of accounts, identities,
memberships and campaigns): counts catch deletions, `updated` catches inserts and edits. Today's
date is part of it because a membership stops counting when its valid_until passes. The query
scans the tables (tens of milliseconds on the full data set), so its result is kept in the
cache for GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS: a change reaches the ETag within that time.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from accounts.idps import get_providers
from accounts.models import Account, Identity
from campaigns.models import Campaign, Membership

# Bump when the code would write different files from the same data.
EXPORT_VERSION = "1"
CACHE_KEY = "exports:data-version"


def _data_version_query() -> str:
    # Only quoted table names from the models go into this SQL, never outside input.
    quote = connection.ops.quote_name
    columns = []
    for model in (Account, Identity, Membership, Campaign):
        table = quote(model._meta.db_table)
        columns.append(f"(SELECT COUNT(*) FROM {table})")  # noqa: S608
        columns.append(f"(SELECT MAX({quote('updated')}) FROM {table})")  # noqa: S608
    return "SELECT " + ", ".join(columns)


def data_version() -> str:
    """Counts and latest change times of the exported tables, from one query (or the cache)."""
    ttl = settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS
    if ttl > 0 and (cached := cache.get(CACHE_KEY)) is not None:
        return cached
    with connection.cursor() as cursor:
        cursor.execute(_data_version_query())
        row = cursor.fetchone()
    version = " ".join(str(value) for value in row)
    if ttl > 0:
        cache.set(CACHE_KEY, version, ttl)
    return version


def _settings_version() -> str:
    providers = sorted((p.issuer, p.op_alias) for p in get_providers().values())
    return repr(
        (
            settings.GATEHOUSE_EXPORT_HOME,
            settings.GATEHOUSE_EXPORT_SHELL,
            settings.GATEHOUSE_EXPORT_PRIVATE_GROUPS,
            settings.GATEHOUSE_LDAP_BASE_DN,
            providers,
            settings.GATEHOUSE_PERMISSIONS_EMBARGO_FILE_MODE,
            settings.GATEHOUSE_PERMISSIONS_EMBARGO_DIR_MODE,
            settings.GATEHOUSE_PERMISSIONS_PUBLIC_FILE_MODE,
            settings.GATEHOUSE_PERMISSIONS_PUBLIC_DIR_MODE,
            settings.GATEHOUSE_PERMISSIONS_UPLOAD_WRITE,
        )
    )


def export_etag(format_name: str, *, campaign: str | None = None) -> str:
    """A strong ETag (quoted) for the export in this format (narrowed to one campaign, if
    given) as it would be rendered now."""
    parts = (
        EXPORT_VERSION,
        format_name if campaign is None else f"{format_name}?campaign={campaign}",
        timezone.localdate().isoformat(),
        _settings_version(),
        data_version(),
    )
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'
