"""Two `celery beat` processes (the mistake of a second node) and one worker: each scheduled job
still runs once per interval; the second beat's sends are refused by the job's claim.

Real parts: two beats with their own schedule files, a worker, a Redis of the test's own, the
test database; the token jobs' intervals shortened to 3 s through their settings.
"""

import os
import subprocess
import sys
import time

import pytest

from tests.harness.celery_worker import REPO, start_worker
from tests.harness.ports import stop_process
from tests.integration.faults.conftest import worker_database_url

pytestmark = [pytest.mark.slow, pytest.mark.celery]

INTERVAL_MINUTES = 0.05  # 3 s
JOBS = ("token-refresh", "token-cleanup")


def _start_beat(tmp_path, name: str, env: dict[str, str]) -> subprocess.Popen:
    out = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the beat
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webui", "beat", "--loglevel", "INFO"]
        + ["--schedule", str(tmp_path / f"{name}-schedule")]
        + ["--pidfile", str(tmp_path / f"{name}.pid")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.django_db(transaction=True)
def test_two_beats_run_each_job_once_per_interval(tmp_path, own_redis):
    from accounts.models import ScheduledJob

    env = {
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": own_redis.url,
        "GATEHOUSE_TOKEN_REFRESH_MINUTES": str(INTERVAL_MINUTES),
        "GATEHOUSE_TOKEN_CLEANUP_MINUTES": str(INTERVAL_MINUTES),
    }
    worker = start_worker(
        database_url=env["DATABASE_URL"], logfile=tmp_path / "worker.log",
        broker_url=own_redis.url, name="beats", extra_env=env,
    )  # fmt: skip
    beats = []
    try:
        started = time.monotonic()
        beats = [_start_beat(tmp_path, "beat-a", env), _start_beat(tmp_path, "beat-b", env)]
        time.sleep(16)  # about five intervals
        for beat in beats:
            stop_process(beat)
        elapsed = time.monotonic() - started
        time.sleep(2)  # let the worker finish what was sent last
    finally:
        for beat in beats:
            stop_process(beat)
        worker.stop()

    sent = sum(
        (tmp_path / f"{name}.log").read_text().count("Scheduler: Sending due task token-")
        for name in ("beat-a", "beat-b")
    )
    intervals = elapsed / (INTERVAL_MINUTES * 60)
    jobs = {job.name: job for job in ScheduledJob.objects.filter(name__in=JOBS)}
    assert set(jobs) == set(JOBS), worker.log()[-3000:]
    for job in jobs.values():
        # Once per interval (the beats start a few seconds late, so somewhat fewer), never
        # once per interval per beat.
        assert 2 <= job.runs <= intervals + 1, (job.name, job.runs, intervals)
        assert job.skipped >= 1, (job.name, job.skipped)
    assert sum(job.runs + job.skipped for job in jobs.values()) <= sent
