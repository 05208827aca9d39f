"""`make run`: the whole product on embedded defaults, on this machine only.

SQLite database, kombu's filesystem broker, the local OpenID provider (devidp/) on 127.0.0.1:9400,
the IAM-like SCIM service with the demo people on 127.0.0.1:9401 (scripts/dev_scim.py), a Celery
worker with beat, and Django's server on 127.0.0.1:8000. Ctrl-C stops everything.
"""

import importlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Ports and the state folder can be moved (the end-to-end test of `make run` does).
WEB_PORT = int(os.getenv("GATEHOUSE_DEV_PORT", "8000"))
IDP_PORT = int(os.getenv("GATEHOUSE_DEV_IDP_PORT", "9400"))
SCIM_PORT = int(os.getenv("GATEHOUSE_DEV_SCIM_PORT", str(IDP_PORT + 1)))
VAR = Path(os.getenv("GATEHOUSE_VAR_DIR", REPO / "var")).resolve()


def write_idp_configs() -> tuple[Path, Path]:
    """The dev IdP's config and the portal's idpsecrets.json for the chosen ports, under var/."""
    issuer = f"http://127.0.0.1:{IDP_PORT}/"
    site = f"http://127.0.0.1:{WEB_PORT}"
    config = json.loads((REPO / "devidp" / "demo.json").read_text())
    config.update(issuer=issuer, port=IDP_PORT, keys_file=str(VAR / "devidp" / "jwks.json"))
    for client in config["clients"]:
        if "redirect_uris" in client:
            client["redirect_uris"] = [f"{site}/oidc/callback/"]
            client["post_logout_redirect_uris"] = [f"{site}/"]
    secrets = json.loads((REPO / "devidp" / "idpsecrets.dev.json").read_text())
    for entry in secrets.values():
        entry.update(issuer=issuer, redirect_uris=[f"{site}/oidc/callback/"])
        if "SCIM" in entry:  # the SCIM service runs beside the provider, not under its issuer
            entry["SCIM"]["base_url"] = f"http://127.0.0.1:{SCIM_PORT}/scim"
    idp_config, idpsecrets = VAR / "devidp.json", VAR / "idpsecrets.json"
    idp_config.write_text(json.dumps(config, indent=2))
    idpsecrets.write_text(json.dumps(secrets, indent=2))
    return idp_config, idpsecrets


def laptop_only_warnings(settings) -> list[str]:
    """Development defaults in `settings` that are safe on a laptop only, each as a sentence."""
    found = []
    if settings.DEBUG:
        found.append(
            "DEBUG is on: error pages show code, settings and queries to whoever reaches the "
            "portal. On a server set DJANGO_PRODUCTION=1 (DEBUG off)."
        )
    loopback = []
    for value in settings.GATEHOUSE_CERT_PROXIES:
        try:
            if ipaddress.ip_network(value, strict=False).is_loopback:
                loopback.append(value)
        except ValueError:
            continue
    if loopback:
        found.append(
            f"GATEHOUSE_CERT_PROXIES trusts {', '.join(loopback)}: any program on this machine "
            "can link any certificate DN. On a server list only the TLS proxy's address."
        )
    return found


def print_warnings(settings) -> None:
    warnings = laptop_only_warnings(settings)
    if warnings:
        print("\n  WARNING: development defaults, safe on this laptop only:", file=sys.stderr)
        for warning in warnings:
            print(f"  - {warning}", file=sys.stderr)
        print("  Do not copy them to a server.\n", file=sys.stderr)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def web_answers(url: str) -> bool:
    """True once the web server answers HTTP (any status: an error page is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http://127.0.0.1 URL)
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=REPO, check=True)


def main() -> int:
    for port, what in (
        (WEB_PORT, "the portal"),
        (IDP_PORT, "the development OpenID provider"),
        (SCIM_PORT, "the development SCIM service"),
    ):
        if port_in_use(port):
            print(
                f"Port {port} (for {what}) is already in use: stop whatever listens there "
                "(another `make run`?) and try again.",
                file=sys.stderr,
            )
            return 1
    for folder in ("celery-queue", "celery-control", "devidp"):
        (VAR / folder).mkdir(parents=True, exist_ok=True)
    idp_config, idpsecrets = write_idp_configs()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webui.settings",
        GATEHOUSE_VAR_DIR=str(VAR),
        GATEHOUSE_IDPSECRETS=str(idpsecrets),
        GATEHOUSE_DEMO_IDP_CONFIG=str(idp_config),
        GATEHOUSE_SCIM_IDPS=",".join(
            nick for nick, entry in json.loads(idpsecrets.read_text()).items() if "SCIM" in entry
        ),
        SITE_URL=f"http://127.0.0.1:{WEB_PORT}",
    )
    sys.path.insert(0, str(REPO))
    print_warnings(importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"]))
    manage("migrate", "--no-input", "-v", "0")
    marker = VAR / ".demo-loaded"
    if not marker.exists():
        manage("seed_demo")
        # A storage element and a signing key, so the Storage access panel can mint demo tokens.
        manage(
            "storage_element", "add", "demo-dcache",
            "--audience", "https://dcache.demo.example.org:2880",
            "--endpoint", "https://dcache.demo.example.org:2880",
            "--base-path", "/",
        )  # fmt: skip
        manage("issuer_key", "create")
        marker.touch()

    children: list[subprocess.Popen] = []

    def start(name: str, args: list[str]) -> None:
        print(f"starting {name}: {' '.join(args)}")
        children.append(subprocess.Popen(args, cwd=REPO))

    start("OpenID provider", ["node", "devidp/server.mjs", str(idp_config)])
    start(
        "SCIM service",
        [PYTHON, "scripts/dev_scim.py", str(idp_config), "--port", str(SCIM_PORT)],
    )
    start(
        "Celery worker with beat",
        [PYTHON, "-m", "celery", "-A", "webui", "worker", "--beat", "--pool", "threads"]
        + ["--concurrency", "2", "--loglevel", "INFO"]
        + ["--schedule", str(VAR / "celerybeat-schedule")],
    )
    start("web server", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{WEB_PORT}"])
    try:
        site = f"http://127.0.0.1:{WEB_PORT}/"
        while not web_answers(site + "healthz"):
            if any(child.poll() is not None for child in children):
                break  # the loop below reports it and stops the rest
            time.sleep(0.3)
        else:
            print(
                f"\n  Gatehouse is running at {site}\n"
                "  Log in with 'Dev IAM' as alice/alice (a PI), bob/bob or carol/carol;\n"
                "  ada/ada is the data-centre admin (Registrations, Sync and Admin in the menu);\n"
                f"  Sync → Run now reads the demo people from SCIM on port {SCIM_PORT}.\n"
                "  Emails are printed here. Press Ctrl-C to stop everything.\n",
                flush=True,
            )
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
