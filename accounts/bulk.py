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
    given = list(rows[0])
    # Columns a row leaves out get their field's default, as save() would give them (COPY
    # would write NULL): e.g. an account's token subject.
    defaulted = [
        f
        for f in model._meta.concrete_fields
        if f.attname not in given and f.name not in given and f.has_default()
    ]
    columns = given + [f.column for f in defaulted]
    json_columns = {c for c in given if isinstance(rows[0][c], dict)}
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = [Jsonb(row[c]) if c in json_columns else row[c] for c in given]
            for field in defaulted:
                value = field.get_default()
                values.append(Jsonb(value) if field.get_internal_type() == "JSONField" else value)
            copy.write_row(values)
