"""Throwaway PostgreSQL and Redis on free loopback ports, in temporary directories.

Used by the pytest plugin (tests/harness/plugin.py) and by the benchmarks. PostgreSQL refuses to
run as root, so when we are root the server runs as the `postgres` system user (Debian package).
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.ports import free_port, stop_process, wait_for_port


def _pg_bindir() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "postgres").exists()), reverse=True)
    if not versions:
        raise RuntimeError(
            "PostgreSQL server binaries were not found under /usr/lib/postgresql: "
            "install them with `apt-get install postgresql` (make test does this)."
        )
    return versions[0]


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("Running as root needs the 'postgres' system user.") from exc
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class RunningPostgres:
    port: int
    datadir: Path
    proc: subprocess.Popen
    tmp: Path
    user: str = "postgres"
    dbname: str = "gatehouse"
    command: list[str] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    def pause(self) -> None:
        """Shut the server down (fast: open connections are cut), keeping its data.

        Through pg_ctl: a signal to `proc` may reach only the runuser wrapper, not postgres.
        """
        subprocess.run(
            [*_as_postgres_user(), str(_pg_bindir() / "pg_ctl"), "-D", str(self.datadir)]
            + ["stop", "-m", "fast", "-w", "-t", "30"],
            capture_output=True,
        )
        stop_process(self.proc, sig=signal.SIGINT, timeout=15)

    def resume(self) -> None:
        """Start it again on the same port and data after `pause()`."""
        log = open(self.tmp / "postgres.log", "ab")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, proc=self.proc, what="PostgreSQL")

    def stop(self) -> None:
        self.pause()
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_postgres(
    *, extra_conf: dict[str, str] | None = None, port: int | None = None
) -> RunningPostgres:
    bindir = _pg_bindir()
    prefix = _as_postgres_user()
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
    datadir = tmp / "data"
    if prefix:
        shutil.chown(tmp, "postgres", "postgres")
    tmp.chmod(0o700)
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres"]
        + ["--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    port = port or free_port()
    conf = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(tmp),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
        "shared_buffers": "256MB",
        **(extra_conf or {}),
    }
    args = [arg for key, value in conf.items() for arg in ("-c", f"{key}={value}")]
    command = [*prefix, str(bindir / "postgres"), "-D", str(datadir), *args]
    log = open(tmp / "postgres.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningPostgres(port=port, datadir=datadir, proc=proc, tmp=tmp, command=command)
    try:
        wait_for_port(port, proc=proc, what="PostgreSQL")
        for _ in range(100):
            created = subprocess.run(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
                + [server.dbname],
                capture_output=True,
            )
            if created.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"createdb failed: {created.stderr.decode()}")
    except Exception:
        server.stop()
        raise
    return server


@dataclass
class RunningRedis:
    port: int
    proc: subprocess.Popen
    tmp: Path = field(repr=False)
    command: list[str] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        """Stop the server (its connections drop); what it held is lost, as in a crash."""
        stop_process(self.proc, timeout=10)

    def resume(self) -> None:
        """Start it again on the same port after `pause()`."""
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc, what="Redis")

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_redis(*, port: int | None = None) -> RunningRedis:
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError(
            "redis-server was not found: install it with `apt-get install redis-server`."
        )
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-redis-"))
    port = port or free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp)]
    command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes"]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    server = RunningRedis(port=port, proc=proc, tmp=tmp, command=command)
    try:
        wait_for_port(port, proc=proc, what="Redis")
    except Exception:
        server.stop()
        raise
    return server
