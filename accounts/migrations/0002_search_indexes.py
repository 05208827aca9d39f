"""Account indexes the campaign pages need at 100k accounts and 500k memberships.

- Account id WHERE status is not ACTIVE (partial): the few inactive accounts, for the anti-join
  in campaigns.selectors.current_member_count.
- Account UPPER(name) trigram GIN (PostgreSQL, pg_trgm): "PI name contains ..." in the campaign
  search (Django's icontains is UPPER(name) LIKE UPPER('%...%')). pg_trgm is a trusted
  extension since PostgreSQL 13, so the database owner may create it; where it cannot be
  created the index is skipped and the search still works, reading every account instead.

Raw SQL because the trigram index exists only on PostgreSQL and only where pg_trgm can be
created; SQLite (`make run`) skips it. Both are unknown to the migration state.
"""

from django.db import DatabaseError, migrations, transaction

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
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_account_indexes, drop_account_indexes)]
