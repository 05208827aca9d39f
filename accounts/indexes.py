"""An index that exists on PostgreSQL only, kept in Meta.indexes so migrations know it."""

from django.contrib.postgres.indexes import GinIndex


class PostgresOnlyGinIndex(GinIndex):
    """A GIN index on PostgreSQL; on other databases (SQLite under `make run`) no index at all.

    Its SQL there is a comment, which the database runs as nothing, so creating, removing or
    rebuilding the table (SQLite remakes tables to alter them) never meets GIN syntax. The
    operator class's extension (TrigramExtension for gin_trgm_ops) must be created by a
    migration before it.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return self._skipped(schema_editor)
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def remove_sql(self, model, schema_editor, **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return self._skipped(schema_editor)
        return super().remove_sql(model, schema_editor, **kwargs)

    def _skipped(self, schema_editor) -> str:
        return f"-- {self.name}: PostgreSQL only, none on {schema_editor.connection.vendor}"
