"""`make run` end to end: the launcher starts everything, and alice logs in through the dev IdP.

Runs scripts/run_dev.py (what `make run` runs) with its own state folder and free ports, exactly
as a newcomer would use it, then drives Chromium through the provider's login form.
"""

import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.harness.celery_worker import REPO
from tests.harness.ports import free_port, wait_for_port

# The test session's own services must not leak into the embedded defaults.
TEST_ONLY = {"DATABASE_URL", "CELERY_BROKER_URL", "GATEHOUSE_TOKEN_KEYS", "GATEHOUSE_IDPSECRETS"}


@pytest.fixture
def make_run(tmp_path):
    web_port, idp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update(
        GATEHOUSE_VAR_DIR=str(tmp_path / "var"),
        GATEHOUSE_DEV_PORT=str(web_port),
        GATEHOUSE_DEV_IDP_PORT=str(idp_port),
        GATEHOUSE_DEV_SCIM_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "scripts/run_dev.py"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(web_port, timeout=120, proc=proc, what="make run's web server")
        wait_for_port(idp_port, timeout=30, proc=proc, what="make run's OpenID provider")
        yield f"http://127.0.0.1:{web_port}", proc, tmp_path / "make-run.log"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.browser
@pytest.mark.slow
def test_newcomer_logs_in_as_alice_on_make_run(make_run, browser):
    site, proc, log = make_run
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(site + "/")
        assert page.get_by_role("heading", name="One gate to your data centre").is_visible()
        page.get_by_role("link", name="Log in", exact=True).first.click()
        page.get_by_role("link", name="Dev IAM").click()
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("alice")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(site + "/**")
        # her first login: "Welcome", not "Welcome back"
        assert page.get_by_role("heading", name="Welcome, Alice Archer").is_visible()
        assert page.get_by_role("link", name="alice").is_visible()
        # The demo data is there: alice leads campaigns.
        assert page.locator("text=Your campaigns").is_visible()
        # The campaign pages on make run's SQLite: the list, the campaign she leads, its manage
        # page with the members she decides on.
        page.goto(site + "/campaigns/")
        page.get_by_role("link", name="nightsky-2025").click()
        assert page.get_by_role("heading", name="Night Sky Survey 2025").is_visible()
        page.get_by_role("link", name="Manage", exact=True).click()
        assert page.get_by_role("heading", name="Manage nightsky-2025").is_visible()
        assert page.locator("#members tbody tr").count() >= 3  # alice, bob, dave
    except Exception:
        print(log.read_text()[-4000:])
        raise
    finally:
        context.close()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    # Ctrl-C stopped everything it started: nothing listens on its ports any more.
    port = int(site.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
