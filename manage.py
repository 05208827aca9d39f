#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    if sys.argv[1:2] != ["runserver"]:
        # migrate, scim_sync, export_mappings...: long jobs, with a worker's statement timeout.
        from webui.celery import worker_statement_timeout

        worker_statement_timeout()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
