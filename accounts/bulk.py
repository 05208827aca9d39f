"""Many new rows at once: COPY on PostgreSQL (a bulk INSERT spends its time quoting values)."""

from django.db import connection
from psycopg.types.json import Jsonb

BATCH = 5000


def rows_insert(model, rows: list[dict]) -> None:
    """Insert `rows` (dicts of column values, all with the same keys) into `model`'s table."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**row) for row in rows], batch_size=BATCH)
        return
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(rows[0][c], dict)}
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c in json_columns else row[c] for c in columns])
