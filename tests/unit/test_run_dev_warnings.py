"""`make run` warns at start about development defaults that are safe on a laptop only."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("run_dev", REPO / "scripts" / "run_dev.py")
run_dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_dev)


def test_debug_and_loopback_certificate_proxies_are_named():
    warnings = run_dev.laptop_only_warnings(
        SimpleNamespace(DEBUG=True, GATEHOUSE_CERT_PROXIES=["127.0.0.1", "10.0.0.5", "::1"])
    )
    assert len(warnings) == 2
    assert warnings[0].startswith("DEBUG is on") and "DJANGO_PRODUCTION=1" in warnings[0]
    assert "127.0.0.1, ::1" in warnings[1] and "10.0.0.5" not in warnings[1]


def test_nothing_to_say_for_server_settings():
    settings = SimpleNamespace(DEBUG=False, GATEHOUSE_CERT_PROXIES=["192.0.2.10", "not-an-ip"])
    assert run_dev.laptop_only_warnings(settings) == []


def test_the_defaults_make_run_uses_are_warned_about():
    """The settings module as `make run` loads it (no DJANGO_PRODUCTION, no overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEHOUSE_"))}
    env.pop("DEBUG", None)
    code = (
        "import importlib, importlib.util, sys; sys.path.insert(0, '.'); "
        "spec = importlib.util.spec_from_file_location('r', 'scripts/run_dev.py'); "
        "r = importlib.util.module_from_spec(spec); spec.loader.exec_module(r); "
        "r.print_warnings(importlib.import_module('webui.settings'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING: development defaults" in done.stderr
    assert "DEBUG is on" in done.stderr and "GATEHOUSE_CERT_PROXIES trusts 127.0.0.1" in done.stderr
