"""/healthz while the campaign pages are busy: sync workers, gthread workers, a health port.

Target (issue 12): a load balancer's /healthz answers in milliseconds during a burst of page
requests, so p95 < 100 ms during a burst of 200 campaign page requests.

For each gunicorn setup (`--workers 4` sync, `--workers 4 --worker-class gthread --threads 4`,
and sync plus a second one-worker gunicorn on its own port that only the load balancer's probes
reach, as README.md's gatehouse-health unit runs it): gunicorn on the seeded database with Redis
as broker and cache, a 2 s warm-up, then /healthz probed alone for BASELINE_PROBES requests (idle
p95, the baseline), then a burst: BURST_REQUESTS GETs of the campaign list and the ten busiest
campaigns' pages from BURST_CLIENTS threads, while one more thread probes /healthz one request
after the other on a new connection each (as a load balancer does). Reported: the probes' p95
during the burst, against the idle p95 of the same setup, and the ratio sync / each other setup.
Errors (non-200 answers) are counted. A sync p95 rests on few probes: each waits long.
"""

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.harness.gunicorn import start_gunicorn  # noqa: E402

BURST_REQUESTS = 200
BURST_CLIENTS = 20
BASELINE_PROBES = 100
TARGET_MS = 100
SYNC = {"workers": 4, "worker_class": "sync"}
SETUPS = {
    "sync, 4 workers": (SYNC, None),
    "gthread, 4 workers x 4 threads": (
        {"workers": 4, "worker_class": "gthread", "threads": 4},
        None,
    ),
    # The load balancer probes a second, one-worker gunicorn of the same code on its own port.
    "sync, 4 workers + health port (1 sync worker)": (SYNC, {"workers": 1, "worker_class": "sync"}),
}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def probe(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    status = requests.get(url + "/healthz", timeout=30).status_code
    return (time.perf_counter() - started) * 1000, status


def campaign_paths() -> list[str]:
    with psycopg.connect(os.environ["DATABASE_URL"]) as db:
        slugs = db.execute(
            "SELECT c.slug FROM campaigns_campaign c JOIN campaigns_membership m "
            "ON m.campaign_id = c.id GROUP BY c.slug ORDER BY count(*) DESC LIMIT 10"
        ).fetchall()
    return ["/campaigns/"] + [f"/campaigns/{slug}/" for (slug,) in slugs]


def burst(url: str, paths: list[str], health_url: str) -> dict:
    todo = list(range(BURST_REQUESTS))
    lock, errors, probes = threading.Lock(), [0], []
    done = threading.Event()

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop()
            response = session.get(url + paths[n % len(paths)], timeout=60)
            if response.status_code != 200:
                with lock:
                    errors[0] += 1

    def prober() -> None:
        while not done.is_set():
            probes.append(probe(health_url))

    clients = [threading.Thread(target=client) for _ in range(BURST_CLIENTS)]
    watcher = threading.Thread(target=prober)
    started = time.perf_counter()
    watcher.start()
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return {
        "seconds": seconds,
        "errors": errors[0],
        "probes_ms": [ms for ms, _ in probes],
        "probe_errors": sum(1 for _, status in probes if status != 200),
    }


def measure(name: str, options: dict, health: dict | None, paths: list[str], tmp: Path) -> dict:
    redis_url = os.environ["CELERY_BROKER_URL"]
    env = {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": redis_url.rsplit("/", 1)[0] + "/1",
        "DEBUG": "False",
        "SECRET_KEY": "bench-secret-key-" + "x" * 40,
    }
    server = start_gunicorn(env=env, logfile=tmp / f"{name.split(',')[0]}.log", **options)
    health_server = (
        start_gunicorn(env=env, logfile=tmp / "health.log", **health) if health else None
    )
    health_url = (health_server or server).url
    try:
        warm_until = time.monotonic() + 2
        while time.monotonic() < warm_until:
            for path in paths:
                requests.get(server.url + path, timeout=30)
        idle = [probe(health_url)[0] for _ in range(BASELINE_PROBES)]
        result = burst(server.url, paths, health_url)
    finally:
        server.stop()
        if health_server:
            health_server.stop()
    result["idle_p95"] = p95(idle)
    result["busy_p95"] = p95(result["probes_ms"])
    return result


def main() -> None:
    import tempfile

    paths = campaign_paths()
    tmp = Path(tempfile.mkdtemp(prefix="bench-healthz-"))
    results = {
        name: measure(name, options, health, paths, tmp)
        for name, (options, health) in SETUPS.items()
    }
    sync = results["sync, 4 workers"]
    rows = []
    for name, result in results.items():
        rows.append(
            {
                "measure": f"/healthz p95 during a {BURST_REQUESTS}-request campaign page burst, "
                f"{name}",
                "value": round(result["busy_p95"], 1),
                "unit": "ms",
                "target": f"< {TARGET_MS} ms",
                "met": result["busy_p95"] < TARGET_MS,
                "ratio": f"{result['busy_p95'] / result['idle_p95']:.1f}x its idle p95 "
                f"({result['idle_p95']:.1f} ms)"
                + (
                    ""
                    if result is sync
                    else f"; sync / this = {sync['busy_p95'] / result['busy_p95']:.1f}x"
                ),
                "note": f"{len(result['probes_ms'])} probes, {result['probe_errors']} errors; "
                f"burst of {BURST_REQUESTS} GETs from {BURST_CLIENTS} clients took "
                f"{result['seconds']:.1f} s ({BURST_REQUESTS / result['seconds']:.0f} req/s), "
                f"{result['errors']} errors",
            }
        )
    print(json.dumps({"benchmark": "healthz", "rows": rows}))


if __name__ == "__main__":
    main()
