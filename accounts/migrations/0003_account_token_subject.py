import uuid

from django.db import migrations, models


def allocate_subjects(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    for account in Account.objects.filter(token_subject__isnull=True).only("pk").iterator():
        Account.objects.filter(pk=account.pk).update(token_subject=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_search_indexes")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="token_subject",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(allocate_subjects, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="account",
            name="token_subject",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
