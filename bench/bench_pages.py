"""Campaign list, detail and manage pages under 20 concurrent clients, served by gunicorn.

Target (issue 4): p95 < 50 ms with zero errors on the seeded database. Baseline in the same run:
/healthz (one trivial query) under the same load, so the ratio shows what the pages add.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CLIENTS = 20
SECONDS_PER_PAGE = float(os.getenv("BENCH_PAGE_SECONDS", "15"))


def _sessions():
    """Session cookies for a member and the PI of one busy campaign, made straight in the DB."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.models import Count, Q
    from django.urls import reverse

    from campaigns.models import Campaign, Membership

    campaign = (
        Campaign.objects.annotate(n=Count("memberships", filter=Q(memberships__state="approved")))
        .order_by("-n")
        .first()
    )
    member = (
        Membership.objects.filter(campaign=campaign, state="approved")
        .exclude(account=campaign.pi)
        .select_related("account")
        .first()
        .account
    )

    def cookie(account) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(account.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = account.get_session_auth_hash()
        store.create()
        return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"

    return {
        "healthz (baseline)": ("/healthz", ""),
        "campaign list": (reverse("campaigns:list") + "?q=camp-0", cookie(member)),
        "campaign detail (member)": (
            reverse("campaigns:detail", args=[campaign.slug]),
            cookie(member),
        ),
        "campaign manage (PI)": (
            reverse("campaigns:manage", args=[campaign.slug]),
            cookie(campaign.pi),
        ),
    }, campaign.n


def _load(port: int, path: str, cookie: str, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": cookie, "Host": "127.0.0.1"} if cookie else {"Host": "127.0.0.1"}
        mine, bad = [], 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - started)
            bad += 0 if ok else 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.harness.ports import free_port, wait_for_port

    pages, members = _sessions()
    port = free_port()
    env = {**os.environ, "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "webui.wsgi", "--bind", f"127.0.0.1:{port}"]
        + [
            "--workers",
            "3",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    rows = []
    try:
        wait_for_port(port, proc=server, what="gunicorn")
        baseline_p95 = None
        for name, (path, cookie) in pages.items():
            _load(port, path, cookie, 2)  # warm up connections and caches
            latencies, errors = _load(port, path, cookie, SECONDS_PER_PAGE)
            latencies.sort()
            p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
            if baseline_p95 is None:
                baseline_p95 = p95
            rows.append(
                {
                    "measure": f"{name} p95, {CLIENTS} clients",
                    "value": round(p95, 1),
                    "unit": "ms",
                    "target": "< 50 ms, 0 errors" if "baseline" not in name else "",
                    "met": (p95 < 50 and errors == 0) if "baseline" not in name else None,
                    "ratio": f"{p95 / baseline_p95:.1f}x healthz",
                    "note": f"{len(latencies)} requests, {errors} errors, "
                    f"p50 {statistics.median(latencies) * 1000:.1f} ms"
                    + (f", campaign with {members} members" if "detail" in name else ""),
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(json.dumps({"benchmark": "pages", "rows": rows}))


if __name__ == "__main__":
    main()
