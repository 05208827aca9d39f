"""Test-only Celery tasks for the fault tests (tests/integration/faults): loaded into a test
worker with `celery worker -I tests.harness.fault_tasks`, never by the project's own workers.

Each run writes what it did to a marker file, so a test in another process can see a task
start, be killed, start again and finish.
"""

import os
import time
from pathlib import Path

from celery import shared_task
from django.db import connection

from accounts.jobs import sync_run_heartbeat
from accounts.models import SyncRun


def marker_lines(marker: str | Path) -> list[str]:
    path = Path(marker)
    return path.read_text().splitlines() if path.exists() else []


def _write(marker: str, line: str) -> None:
    with open(marker, "a") as out:
        out.write(f"{line}\n")
        out.flush()
        os.fsync(out.fileno())


@shared_task(name="faults.sleep")
def fault_sleep(marker: str, seconds: float) -> None:
    """Sleep `seconds` on the first start only, so a run handed out again finishes at once."""
    first = not any(line.startswith("start") for line in marker_lines(marker))
    _write(marker, f"start {os.getpid()}")
    if first:
        time.sleep(seconds)
    _write(marker, f"done {os.getpid()}")


@shared_task(name="faults.sync_run_hold")
def sync_run_hold(marker: str, seconds: float) -> None:
    """A sync run that beats like a real one (accounts.jobs.sync_run_heartbeat) and takes long."""
    run = SyncRun.objects.create(idp="faults-test", triggered_by="test")
    _write(marker, f"start {os.getpid()} {run.pk}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sync_run_heartbeat(run)
        time.sleep(0.5)
    _write(marker, f"done {os.getpid()} {run.pk}")


@shared_task(name="faults.show_statement_timeout")
def show_statement_timeout(marker: str) -> None:
    """What this worker's database sessions get (webui/celery.py sets it at worker start), and
    that the rest of the connection's options stay (the prepared reads' plan_cache_mode)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        timeout = cursor.fetchone()[0]
        cursor.execute("SHOW plan_cache_mode")
        _write(marker, f"{timeout} {cursor.fetchone()[0]}")
