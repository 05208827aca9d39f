"""The Celery app: broker and schedule from Django settings, tasks autodiscovered."""

import os
import re

from celery import Celery
from celery.signals import beat_init, worker_init
from django.conf import settings
from django.db import connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def worker_statement_timeout(**kwargs) -> None:
    """Workers (and management commands, manage.py) run long jobs: their statements may take
    longer than a web request's."""
    for alias, database in settings.DATABASES.items():
        options = database.get("OPTIONS", {})
        if "statement_timeout" in options.get("options", ""):
            options["options"] = re.sub(
                r"statement_timeout=\S+",
                f"statement_timeout={settings.GATEHOUSE_DB_WORKER_STATEMENT_TIMEOUT_MS}",
                options["options"],
            )
            connections[alias].close()
