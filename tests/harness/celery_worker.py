"""A real Celery worker process against the test database and the throwaway Redis."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from tests.harness.ports import stop_process

REPO = Path(__file__).resolve().parents[2]


def celery_client(broker_url: str, name: str = "test-client") -> Celery:
    """A plain Celery client of `broker_url` (sends by task name, pings), whatever the
    CELERY_BROKER_URL environment variable says: Celery lets that override `broker=`.
    Never the current app: a thread that later looks tasks up must still find the project's."""
    app = Celery(name, broker=broker_url, set_as_current=False)
    app.conf.update(broker_read_url=broker_url, broker_write_url=broker_url)
    return app


@dataclass
class RunningWorker:
    proc: subprocess.Popen
    logfile: Path
    hostname: str = ""

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 the worker and its pool children, as a crash or the OOM killer would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


def start_worker(
    *,
    database_url: str,
    logfile: Path,
    concurrency: int = 2,
    queues: str | None = None,
    extra_env: dict[str, str] | None = None,
    pool: str = "threads",
    include: str | None = None,
    broker_url: str | None = None,
    name: str | None = None,
    production_flags: bool = False,
) -> RunningWorker:
    """Start `celery worker` and wait until it answers a ping.

    `queues` (comma-separated) gives a worker of its own to tests that need settings the
    session worker does not have (`extra_env`); they send their tasks to that queue.
    `broker_url` points it at a Redis of the test's own (one it may stop), `include` imports
    more task modules (`celery worker -I`, e.g. tests.harness.fault_tasks), and `name` tells two
    workers of one test apart. `production_flags` runs it as the README does (gossip, mingle
    and events on); by default those are off, so tests start faster.
    """
    from webui.celery import app

    own_broker = "CELERY_BROKER_URL" in (extra_env or {})  # then its log says when it is ready
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO), **(extra_env or {})}
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
        app = celery_client(broker_url, "ping")
    label = name or (queues or "default").replace(",", "-")
    hostname = f"test-{os.getpid()}-{label}@{socket.gethostname()}"
    out = open(logfile, "wb")  # noqa: SIM115 - lives as long as the worker
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webui", "worker", "--pool", pool]
        + ["--concurrency", str(concurrency)]
        + ([] if production_flags else ["--without-gossip", "--without-mingle"])
        + ["--hostname", hostname, "--loglevel", "INFO"]
        + (["--queues", queues] if queues else [])
        + (["--include", include] if include else []),
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
