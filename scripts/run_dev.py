"""`make run`: the whole product on embedded defaults, on this machine only.

SQLite database, kombu's filesystem broker, the local OpenID provider (devidp/) on 127.0.0.1:9400,
a Celery worker with beat, and Django's server on 127.0.0.1:8000. Ctrl-C stops everything.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEB_PORT = 8000
IDP_CONFIG = REPO / "devidp" / "demo.json"


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, check=True)


def main() -> int:
    idp_port = json.loads(IDP_CONFIG.read_text())["port"]
    for port, what in ((WEB_PORT, "the portal"), (idp_port, "the development OpenID provider")):
        if port_in_use(port):
            print(
                f"Port {port} (for {what}) is already in use: stop whatever listens there "
                "(another `make run`?) and try again.",
                file=sys.stderr,
            )
            return 1
    (REPO / "var").mkdir(exist_ok=True)
    for folder in ("celery-queue", "celery-control"):
        (REPO / "var" / folder).mkdir(exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    manage("migrate", "--no-input", "-v", "0")
    marker = REPO / "var" / ".demo-loaded"
    if not marker.exists():
        manage("seed_demo")
        marker.touch()

    children: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> None:
        print(f"starting {name}: {' '.join(args)}")
        children.append(subprocess.Popen(args, cwd=REPO))

    start("OpenID provider", ["node", "devidp/server.mjs", str(IDP_CONFIG)])
    start(
        "Celery worker with beat",
        [PYTHON, "-m", "celery", "-A", "webui", "worker", "--beat", "--pool", "threads"]
        + ["--concurrency", "2", "--loglevel", "INFO"]
        + ["--schedule", str(REPO / "var" / "celerybeat-schedule")],
    )
    start("web server", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{WEB_PORT}"])
    time.sleep(2)
    print(
        f"\n  Gatehouse is running at http://127.0.0.1:{WEB_PORT}/\n"
        "  Log in with 'Dev IAM' as alice/alice (a PI), bob/bob or carol/carol.\n"
        "  Emails are printed here. Press Ctrl-C to stop everything.\n"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A process stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
