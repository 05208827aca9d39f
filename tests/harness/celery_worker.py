"""A real Celery worker process against the test database and the throwaway Redis."""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import stop_process

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningWorker:
    proc: subprocess.Popen
    logfile: Path
    hostname: str = ""

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


def start_worker(
    *,
    database_url: str,
    logfile: Path,
    concurrency: int = 2,
    queues: str | None = None,
    extra_env: dict[str, str] | None = None,
    name: str | None = None,
) -> RunningWorker:
    """Start `celery worker` and wait until it answers a ping.

    `queues` (comma-separated) gives a worker of its own to tests that need settings the
    session worker does not have (`extra_env`); they send their tasks to that queue.
    """
    from webui.celery import app

    own_broker = "CELERY_BROKER_URL" in (extra_env or {})  # then its log says when it is ready
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO), **(extra_env or {})}
    label = name or (queues or "default").replace(",", "-")
    hostname = f"test-{os.getpid()}-{label}@{socket.gethostname()}"
    out = open(logfile, "wb")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webui", "worker", "--pool", "threads"]
        + ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
        + ["--hostname", hostname, "--loglevel", "INFO"]
        + (["--queues", queues] if queues else []),
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = RunningWorker(proc=proc, logfile=logfile, hostname=hostname)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{worker.log()[-3000:]}")
        if own_broker:
            if f"{hostname} ready." in worker.log():
                return worker
            time.sleep(0.2)
        elif app.control.ping(destination=[hostname], timeout=0.5):
            return worker
    worker.stop()
    raise TimeoutError(f"Celery worker did not answer a ping in 60 s:\n{worker.log()[-3000:]}")
