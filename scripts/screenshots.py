"""Screenshots of the main pages for the README: starts `make run` in a temporary folder on free
ports, logs in as alice (and ada, the admin) through the dev IdP in headless Chromium, and saves
PNGs to docs/screenshots/: desktop at 1280 px and phone views at 390 px (phone-*.png).
"""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.harness.browser import launch  # noqa: E402
from tests.harness.ports import free_port, wait_for_port  # noqa: E402

OUT = REPO / "docs" / "screenshots"


def main() -> None:
    web_port, idp_port = free_port(), free_port()
    site = f"http://127.0.0.1:{web_port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}
        }
        env.update(
            GATEHOUSE_VAR_DIR=f"{tmp}/var",
            GATEHOUSE_DEV_PORT=str(web_port),
            GATEHOUSE_DEV_IDP_PORT=str(idp_port),
            GATEHOUSE_DEV_SCIM_PORT=str(free_port()),
        )
        proc = subprocess.Popen(
            [sys.executable, "scripts/run_dev.py"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(web_port, timeout=120, proc=proc)
            wait_for_port(idp_port, timeout=30, proc=proc)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(site + "/")
                page.screenshot(path=OUT / "home.png", full_page=True)
                page.get_by_role("link", name="Log in", exact=True).first.click()
                page.screenshot(path=OUT / "login.png")
                page.get_by_role("link", name="Dev IAM").click()
                page.get_by_label("Username").fill("alice")
                page.get_by_label("Password").fill("alice")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(site + "/**")
                page.screenshot(path=OUT / "home-logged-in.png", full_page=True)
                for name, path in [
                    ("campaigns", "/campaigns/"),
                    ("account", "/account/"),
                    ("tokens", "/tokens/"),
                    ("inspect", "/tokens/inspect/"),
                ]:
                    page.goto(site + path)
                    page.screenshot(path=OUT / f"{name}.png", full_page=True)
                page.goto(site + "/tokens/")
                page.get_by_role("link", name="Inspect", exact=True).first.click()
                page.screenshot(path=OUT / "token-detail.png", full_page=True)
                page.goto(site + "/campaigns/")
                page.get_by_role("link", name="nightsky-2025").click()
                page.screenshot(path=OUT / "campaign.png", full_page=True)
                page.get_by_role("link", name="Manage").first.click()
                page.screenshot(path=OUT / "campaign-manage.png", full_page=True)
                page.goto(site + "/campaigns/new/")
                page.screenshot(path=OUT / "campaign-new.png", full_page=True)
                # The same pages on a phone (390 x 844).
                page.set_viewport_size({"width": 390, "height": 844})
                for name, path in [
                    ("phone-campaigns", "/campaigns/"),
                    ("phone-campaign", "/campaigns/nightsky-2025/"),
                    ("phone-campaign-manage", "/campaigns/nightsky-2025/manage/"),
                    ("phone-tokens", "/tokens/"),
                    ("phone-inspect", "/tokens/inspect/"),
                ]:
                    page.goto(site + path)
                    page.screenshot(path=OUT / f"{name}.png", full_page=True)
                page.goto(site + "/tokens/")
                page.get_by_role("link", name="Inspect", exact=True).first.click()
                page.screenshot(path=OUT / "phone-token-detail.png", full_page=True)
                # The admin (ada): a SCIM run against make run's IAM-like service.
                admin = browser.new_page(viewport={"width": 1280, "height": 860})
                admin.goto(site + "/login/")
                admin.get_by_role("link", name="Dev IAM").click()
                admin.get_by_label("Username").fill("ada")
                admin.get_by_label("Password").fill("ada")
                admin.get_by_role("button", name="Sign in").click()
                admin.wait_for_url(site + "/**")
                admin.goto(site + "/sync/")
                admin.get_by_role("button", name="Run now").click()
                for _ in range(60):  # the worker picks the run up from the file broker
                    admin.goto(site + "/sync/")
                    if "users read" in admin.locator("#sync-history").inner_text():
                        break
                    admin.wait_for_timeout(2000)
                admin.screenshot(path=OUT / "sync.png", full_page=True)
                browser.close()
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
