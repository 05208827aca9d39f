"""A real gunicorn serving Gatehouse on a free loopback port (fault tests and benchmarks)."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.harness.ports import free_port, stop_process, wait_for_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningGunicorn:
    proc: subprocess.Popen
    port: int
    logfile: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


def start_gunicorn(
    *,
    env: dict[str, str],
    logfile: Path,
    workers: int = 2,
    worker_class: str = "gthread",
    threads: int = 4,
    timeout: int = 30,
) -> RunningGunicorn:
    """`gunicorn webui.wsgi` as the README runs it, with `env` on top of this process's."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "webui.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += [
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        str(timeout),
    ]
    command += ["--no-control-socket"]  # its default path is shared by every gunicorn here
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    out = open(logfile, "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = RunningGunicorn(proc=proc, port=port, logfile=logfile)
    try:
        wait_for_port(port, proc=proc, what="gunicorn", timeout=60)
    except Exception:
        server.stop()
        raise
    return server
