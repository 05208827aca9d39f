"""The account search indexes live on the model (Account.Meta.indexes) and so in migrations:
the partial index everywhere, the pg_trgm GIN only on PostgreSQL (SQLite under make run has none)."""

import pytest
from django.db import connection

from accounts.models import Account

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db]


def account_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Account._meta.db_table)
    return {name: info for name, info in constraints.items() if info["index"]}


def test_the_partial_index_of_inactive_accounts_exists():
    assert account_indexes()["account_inactive_id"]["columns"] == ["id"]


def test_the_trigram_index_exists_on_postgresql_only():
    indexes = account_indexes()
    if connection.vendor != "postgresql":
        assert "account_name_upper_trgm" not in indexes
        return
    assert indexes["account_name_upper_trgm"]["type"] == "gin"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", ["account_name_upper_trgm"]
        )
        (definition,) = cursor.fetchone()
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", ["account_inactive_id"]
        )
        (partial,) = cursor.fetchone()
    assert "USING gin (upper((name)::text) gin_trgm_ops)" in definition
    assert "WHERE (NOT ((status)::text = 'ACTIVE'::text))" in partial


def test_the_name_search_can_use_the_trigram_index():
    if connection.vendor != "postgresql":
        assert Account.objects.filter(name__icontains="ann").count() == 0
        return
    with connection.cursor() as cursor:
        # The table is tiny here: without these the planner may read it whole, or walk the
        # unique name index with a filter. A GIN index serves only bitmap scans.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
    plan = Account.objects.filter(name__icontains="ann").values("pk").explain()
    assert "account_name_upper_trgm" in plan
