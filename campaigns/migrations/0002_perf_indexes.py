"""Indexes the campaign pages need at 100k accounts and 500k memberships.

- Membership (campaign, state, valid_until, account): a campaign's current members are counted
  from the index alone (it replaces the (campaign, state) index, a prefix of it). The account is
  a key column, not INCLUDE, which SQLite (`make run`) does not have.
- Account id WHERE status is not ACTIVE (partial): the few inactive accounts, for the anti-join
  in campaigns.selectors.current_member_count.
- Account UPPER(name) trigram GIN (PostgreSQL, pg_trgm): "PI name contains ..." in the campaign
  search (Django's icontains is UPPER(name) LIKE UPPER('%...%')). pg_trgm is a trusted
  extension since PostgreSQL 13, so the database owner may create it; where it cannot be
  created the index is skipped and the search still works, reading every account instead.

The two account indexes live here, not in accounts' models, because the campaign queries are
what need them; they are raw SQL and so unknown to the migration state (makemigrations stays
quiet).
"""

from django.conf import settings
from django.db import DatabaseError, migrations, models, transaction

INACTIVE_INDEX = "account_inactive_id"
TRIGRAM_INDEX = "account_name_upper_trgm"


def create_account_indexes(apps, schema_editor):
    table = schema_editor.quote_name(apps.get_model("accounts", "Account")._meta.db_table)
    schema_editor.execute(
        f"CREATE INDEX {INACTIVE_INDEX} ON {table} (id) WHERE NOT (status = 'ACTIVE')"
    )
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        print(f"\n  pg_trgm is not available ({exc}); campaign search by PI name stays unindexed.")
        return
    schema_editor.execute(
        f"CREATE INDEX {TRIGRAM_INDEX} ON {table} USING gin (UPPER(name::text) gin_trgm_ops)"
    )


def drop_account_indexes(apps, schema_editor):
    for name in (INACTIVE_INDEX, TRIGRAM_INDEX):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="membership",
            name="campaigns_m_campaig_89a320_idx",
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                fields=["campaign", "state", "valid_until", "account"],
                name="membership_campaign_current",
            ),
        ),
        migrations.RunPython(create_account_indexes, drop_account_indexes),
    ]
