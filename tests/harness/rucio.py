"""A real Rucio server (rucio==41.5.1 from PyPI) on loopback, and a fault-injecting proxy for it.

The server runs from its own cached virtualenv (scripts/install-rucio.sh), configured through
RUCIO_CONFIG with its database in a fresh database of the throwaway PostgreSQL (schema `rucio`),
bootstrapped with Rucio's tools/bootstrap.py (root with a userpass identity; the empty
[bootstrap] x509/gss/ssh options leave out the default CERN identities) and served by gunicorn
WITHOUT --preload (with it, workers would share PostgreSQL connections and fail).
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from tests.harness.ports import free_port, stop_process, wait_for_port

RUCIO_VERSION = "41.5.1"
ROOT_USERNAME = "gatehouse-root"


def rucio_venv() -> Path:
    default = Path.home() / ".cache" / "gatehouse" / f"rucio-{RUCIO_VERSION}"
    return Path(os.environ.get("GATEHOUSE_RUCIO_VENV", default))


def _installed() -> Path:
    venv = rucio_venv()
    if not (venv / f".installed-rucio-{RUCIO_VERSION}").exists():
        script = Path(__file__).resolve().parents[2] / "scripts" / "install-rucio.sh"
        subprocess.run(["bash", str(script)], check=True)
    return venv


@dataclass
class RunningRucio:
    port: int
    proc: subprocess.Popen
    tmp: Path
    root_password: str
    dsn: str = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Read Rucio's own tables (schema rucio), for assertions the REST API cannot make."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def start_rucio(*, postgres_url: str, workers: int = 2) -> RunningRucio:
    """Start Rucio on a new database of the PostgreSQL at `postgres_url` (any database on it)."""
    venv = _installed()
    parts = urlsplit(postgres_url)
    dbname = f"rucio_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    dsn = f"postgresql://{parts.username}@{parts.hostname}:{parts.port}/{dbname}"
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-rucio-"))
    password = secrets.token_urlsafe(16)
    sqla_url = f"postgresql+psycopg://{parts.username}@{parts.hostname}:{parts.port}/{dbname}"
    alembic_ini = tmp / "alembic.ini"
    alembic_ini.write_text(
        "[alembic]\n"
        f"sqlalchemy.url = {sqla_url}\n"
        f"script_location = {_site_packages(venv) / 'rucio/db/sqla/migrate_repo'}\n"
        "version_table_schema = rucio\n"
        # env.py configures logging from this file, so it needs the logging sections.
        "[loggers]\nkeys = root\n[handlers]\nkeys = console\n[formatters]\nkeys = generic\n"
        "[logger_root]\nlevel = WARN\nhandlers = console\n"
        "[handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = generic\n"
        "[formatter_generic]\nformat = %%(levelname)s [%%(name)s] %%(message)s\n"
    )
    cfg = tmp / "rucio.cfg"
    cfg.write_text(
        "[common]\nloglevel = WARNING\n"
        "[database]\n"
        f"default = {sqla_url}\nschema = rucio\npool_size = 5\nmax_overflow = 5\n"
        f"[alembic]\ncfg = {alembic_ini}\n"
        "[bootstrap]\n"
        f"userpass_identity = {ROOT_USERNAME}\nuserpass_pwd = {password}\n"
        "userpass_email = root@gatehouse.test\n"
        "x509_identity =\nx509_email =\ngss_identity =\ngss_email =\n"
        "ssh_identity =\nssh_email =\n"
        "[policy]\npermission = generic\nschema = generic\n"
        "[api]\nendpoints = accounts, auth, identities, ping, scopes\n"
    )
    env = {
        **os.environ,
        "RUCIO_CONFIG": str(cfg),
        "RUCIO_HOME": str(tmp),
        "TMPDIR": str(tmp),
        "PYTHONPATH": "",
    }
    bootstrap = subprocess.run(
        [str(venv / "bin/python"), str(venv / "rucio/tools/bootstrap.py")],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    if bootstrap.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"Rucio bootstrap failed:\n{bootstrap.stdout}\n{bootstrap.stderr}")
    port = free_port()
    log = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(venv / "bin/gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
        + ["--timeout", "120", "rucio.web.rest.flaskapi.v1.main:application"],
        env=env,
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = RunningRucio(port=port, proc=proc, tmp=tmp, root_password=password, dsn=dsn)
    try:
        wait_for_port(port, proc=proc, what="Rucio (gunicorn)", timeout=60)
        _wait_for_ping(server)
    except Exception:
        server.stop()
        raise
    return server


def _wait_for_ping(server: RunningRucio, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"Rucio did not answer /ping within {timeout:.0f} s; see {server.tmp}")


class FaultProxy:
    """A loopback HTTP proxy in front of Rucio: answers 500 `fail_next` times, or all when down."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.fail_next = 0
        self.down = False
        self.down_after: int | None = None  # go down for good after this many requests
        self.requests = 0
        self.failed = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                with proxy._lock:
                    proxy.requests += 1
                    if proxy.down_after is not None and proxy.requests > proxy.down_after:
                        proxy.down = True
                    inject = proxy.down or proxy.fail_next > 0
                    if proxy.fail_next > 0:
                        proxy.fail_next -= 1
                    if inject:
                        proxy.failed += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if inject:
                    payload = b'{"ExceptionClass": "InjectedFault", "ExceptionMessage": "test"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
