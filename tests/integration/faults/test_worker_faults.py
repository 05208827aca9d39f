"""The Celery worker against a broker that drops and pool children and workers that die.

Real parts: a prefork worker (the production default) on a Redis of the test's own, tasks from
tests/harness/fault_tasks.py that leave a marker file line per start and finish.
"""

import os
import signal
import time

import pytest
import redis

from tests.harness.celery_worker import celery_client, start_worker
from tests.harness.fault_tasks import marker_lines
from tests.integration.faults.conftest import wait_until, worker_database_url

pytestmark = [pytest.mark.slow, pytest.mark.celery]

FAULT_TASKS = "tests.harness.fault_tasks"


def _starts(marker) -> list[str]:
    return [line.split()[1] for line in marker_lines(marker) if line.startswith("start")]


def _done(marker) -> bool:
    return any(line.startswith("done") for line in marker_lines(marker))


def _answers_ping(client, worker) -> bool:
    try:
        return bool(client.control.ping(destination=[worker.hostname], timeout=1))
    except redis.RedisError:  # this client's own connection, cut by the restart
        return False


def _worker(tmp_path, own_redis, name: str, concurrency: int = 1, **options):
    return start_worker(
        database_url=os.environ["DATABASE_URL"],
        logfile=tmp_path / f"{name}.log",
        pool="prefork",
        concurrency=concurrency,
        include=FAULT_TASKS,
        broker_url=own_redis.url,
        name=name,
        **options,
    )


def test_worker_survives_redis_going_away_during_a_task(tmp_path, own_redis, sender):
    """celery 5.7.0 / kombu 5.7.0's worker exits here: "Unrecoverable error: AttributeError(
    'NoneType' object has no attribute 'hostname')" (checked in a scratch venv). It needs a
    free pool slot while the task runs (concurrency 2, as on a 2-core node), so that the worker
    is still reading the queue when the connection drops; with concurrency 1 it survives."""
    worker = _worker(tmp_path, own_redis, "blip", concurrency=2, production_flags=True)
    try:
        marker = tmp_path / "running.txt"
        sender.send_task("faults.sleep", args=[str(marker), 12])
        wait_until(lambda: _starts(marker), timeout=30, what="the task's start", log=worker.log)

        own_redis.pause()
        time.sleep(3)
        own_redis.resume()

        wait_until(lambda: _done(marker), timeout=30, what="the task's end", log=worker.log)
        client = celery_client(own_redis.url)  # the web nodes' clients reconnect likewise
        wait_until(
            lambda: _answers_ping(client, worker) or worker.proc.poll() is not None,
            timeout=30,
            what="the worker's answer to a ping after Redis came back",
            log=worker.log,
        )
        assert worker.proc.poll() is None, f"the worker exited:\n{worker.log()[-3000:]}"
        assert "Unrecoverable error" not in worker.log()

        after = tmp_path / "after.txt"
        client.send_task("faults.sleep", args=[str(after), 0])
        wait_until(lambda: _done(after), timeout=30, what="a new task's end", log=worker.log)
    finally:
        worker.stop()


def test_a_killed_pool_child_gives_its_task_back(tmp_path, own_redis, sender):
    """task_reject_on_worker_lost: the task runs again at once (not after the visibility timeout,
    300 s here), in a new child."""
    worker = _worker(tmp_path, own_redis, "child")
    try:
        marker = tmp_path / "task.txt"
        sender.send_task("faults.sleep", args=[str(marker), 60])
        (child_pid,) = wait_until(
            lambda: _starts(marker), timeout=30, what="the task's start", log=worker.log
        )
        os.kill(int(child_pid), signal.SIGKILL)

        wait_until(lambda: _done(marker), timeout=30, what="the second run", log=worker.log)
        starts = _starts(marker)
        assert len(starts) == 2 and starts[0] == child_pid and starts[1] != child_pid
        assert worker.proc.poll() is None
    finally:
        worker.stop()


def test_a_killed_worker_task_runs_again_on_another_worker_after_the_visibility_timeout(
    tmp_path, own_redis, sender
):
    """The message of a task whose worker died stays 'unacknowledged' in Redis; once it is
    older than the visibility timeout, a worker gives it back to the queue: at its start (as
    here: systemd restarted it, or a second node) and then every 10th idle poll (~100 s)."""
    timeout = 5
    env = {"CELERY_VISIBILITY_TIMEOUT": str(timeout)}
    first = _worker(tmp_path, own_redis, "first", extra_env=env)
    second = None
    try:
        marker = tmp_path / "task.txt"
        sender.send_task("faults.sleep", args=[str(marker), 120])
        wait_until(lambda: _starts(marker), timeout=30, what="the task's start", log=first.log)
        first.kill()
        time.sleep(timeout)

        second = _worker(tmp_path, own_redis, "second", extra_env=env)
        wait_until(lambda: _done(marker), timeout=30, what="the run on the second worker",
                   log=second.log)  # fmt: skip
        assert len(_starts(marker)) == 2
    finally:
        first.stop()
        if second:
            second.stop()


@pytest.mark.django_db(transaction=True)
def test_a_sync_run_whose_worker_died_is_marked_failed_by_the_reaper(
    tmp_path, own_redis, sender, settings
):
    from accounts.jobs import sync_runs_reap
    from accounts.models import SyncRun

    stale = 8  # seconds; a live run beats every 5 s
    settings.GATEHOUSE_SYNC_RUN_STALE_SECONDS = stale
    env = {"GATEHOUSE_SYNC_RUN_STALE_SECONDS": str(stale)}
    database_url = worker_database_url()
    holder = start_worker(
        database_url=database_url, logfile=tmp_path / "holder.log", include=FAULT_TASKS,
        broker_url=own_redis.url, name="holder", extra_env=env,
    )  # fmt: skip
    reaper = None
    try:
        marker = tmp_path / "run.txt"
        sender.send_task("faults.sync_run_hold", args=[str(marker), 120])
        wait_until(lambda: _starts(marker), timeout=30, what="the run's start", log=holder.log)
        run = SyncRun.objects.get(idp="faults-test")
        first_beat = run.heartbeat
        # Alive: it beats, and the reaper leaves it alone.
        wait_until(
            lambda: SyncRun.objects.get(pk=run.pk).heartbeat > first_beat,
            timeout=20, what="a heartbeat", log=holder.log,
        )  # fmt: skip
        assert sync_runs_reap() == 0
        assert SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.RUNNING

        holder.kill()
        reaper = start_worker(
            database_url=database_url, logfile=tmp_path / "reaper.log", queues="reaper",
            broker_url=own_redis.url, name="reaper", extra_env=env,
        )  # fmt: skip

        def reaped() -> bool:
            # What beat sends every minute, sent every second here.
            sender.send_task("accounts.tasks.sync_runs_reap_stale", queue="reaper")
            time.sleep(1)
            return SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.FAILED

        wait_until(reaped, timeout=stale + 30, what="the reaper's verdict", log=reaper.log)
        run.refresh_from_db()
        assert run.finished is not None
        assert "stopped" in run.error and "8 seconds" in run.error
    finally:
        holder.stop()
        if reaper:
            reaper.stop()


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_workers_get_their_own_longer_statement_timeout(tmp_path, own_redis, sender, pool):
    env = {
        "GATEHOUSE_DB_STATEMENT_TIMEOUT_MS": "1000",
        "GATEHOUSE_DB_WORKER_STATEMENT_TIMEOUT_MS": "7000",
    }
    worker = start_worker(
        database_url=os.environ["DATABASE_URL"], logfile=tmp_path / "worker.log", pool=pool,
        include=FAULT_TASKS, broker_url=own_redis.url, name=f"timeout-{pool}", extra_env=env,
    )  # fmt: skip
    try:
        marker = tmp_path / "timeout.txt"
        sender.send_task("faults.show_statement_timeout", args=[str(marker)])
        wait_until(lambda: marker_lines(marker), timeout=30, what="the answer", log=worker.log)
        assert marker_lines(marker) == ["7s force_generic_plan"]
    finally:
        worker.stop()
