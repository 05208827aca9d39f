"""Every export of the full data set, the HTTP 304 path, and a naive ORM baseline.

Targets (issue 4): each export < 3 s with peak memory < 200 MB; the 304 path < 5 ms.
Baseline in the same run: the same export written the naive way (model instances, one query per
related row) on a sample of rows, extrapolated to all rows.

Run by `python -m bench.run` against its seeded database (DATABASE_URL, BENCH_SCALE), or alone:
`python -m bench.bench_exports [--scale 0.1]` starts a throwaway PostgreSQL and seeds it with
bench/seed.py when DATABASE_URL does not point at a PostgreSQL that holds accounts. Each
measurement runs in its own process, so its peak RSS (ru_maxrss) is its own. The last stdout
line is the runner's JSON report.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ["multimap-ids", "multimap-campaigns", "group", "passwd", "ldif"]

# ---------------------------------------------------------------- child measurements (Django) --


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    import django

    django.setup()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _render(format_name: str) -> dict:
    from campaigns.exports import ExportReport, chunked, render

    before = _rss_mb()
    started = time.perf_counter()
    size = lines = 0
    for block in chunked(render(format_name, ExportReport())):
        size += len(block)
        lines += block.count(b"\n")
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_growth_mb": round(_rss_mb() - before, 1),
        "lines": lines,
        "bytes": size,
    }


def _command(format_name: str) -> dict:
    from django.core.management import call_command

    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / format_name
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:
            call_command(
                "export_mappings",
                "--format",
                format_name,
                "--output",
                str(target),
                stdout=sink,
                stderr=sink,
            )
        first = time.perf_counter() - started
        started = time.perf_counter()
        with open(os.devnull, "w") as sink:  # same data again: compared, left alone
            call_command(
                "export_mappings",
                "--format",
                format_name,
                "--output",
                str(target),
                stdout=sink,
                stderr=sink,
            )
        again = time.perf_counter() - started
    return {
        "new_file_seconds": round(first, 3),
        "unchanged_seconds": round(again, 3),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _naive(format_name: str, sample: int) -> dict:
    """Model instances and a query per related row, on the first `sample` outer rows; the time
    is extrapolated to all outer rows."""
    from accounts.models import Account, Identity
    from campaigns.models import Campaign, Membership

    approved = Membership.State.APPROVED
    if format_name == "multimap-ids":
        outer = Identity.objects.filter(type__in=["X509", "OIDC"]).order_by("id")

        def line(identity):
            account = identity.account  # one query per identity
            if account.status == "ACTIVE" and account.uid:
                return f"{identity.identity} username:{account.name} uid:{account.uid}\n"
            return ""
    elif format_name == "multimap-campaigns":
        outer = Account.objects.filter(status="ACTIVE").order_by("name")

        def line(account):
            gids = [m.campaign.gid for m in account.memberships.filter(state=approved)]
            return f"username:{account.name} " + " ".join(f"gid:{g}" for g in gids) + "\n"
    elif format_name in ("group", "ldif"):
        outer = Campaign.objects.filter(status="active").order_by("slug")

        def line(campaign):
            names = [m.account.name for m in campaign.memberships.filter(state=approved)]
            return f"{campaign.slug}:x:{campaign.gid}:{','.join(sorted(names))}\n"
    else:
        outer = Account.objects.filter(status="ACTIVE").order_by("name")

        def line(account):
            return f"{account.name}:x:{account.uid}:{account.uid}:{account.display_name}\n"

    total = outer.count()
    started = time.perf_counter()
    for row in outer[:sample]:
        line(row)
    elapsed = time.perf_counter() - started
    done = min(sample, total)
    return {
        "outer_rows": total,
        "sampled_rows": done,
        "sample_seconds": round(elapsed, 3),
        "extrapolated_seconds": round(elapsed / done * total, 1) if done else None,
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _http_304(requests: int) -> dict:
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    from campaigns.models import NodeToken
    from campaigns.services import node_token_create

    NodeToken.objects.filter(name="bench-node").delete()
    _, secret = node_token_create(name="bench-node")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_HOST="localhost")
    result = {}
    for label, ttl in (("test_client_version_cached", 10), ("test_client_version_uncached", 0)):
        with override_settings(GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS=ttl):
            cache.clear()
            etag = client.head("/exports/multimap-ids")["ETag"]
            timings = []
            for _ in range(requests if ttl else max(requests // 10, 5)):
                started = time.perf_counter()
                response = client.get("/exports/multimap-ids", HTTP_IF_NONE_MATCH=etag)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 304, response.status_code
        timings.sort()
        result[label] = {
            "requests": len(timings),
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
            "mean_ms": round(statistics.fmean(timings), 2),
        }
    NodeToken.objects.filter(name="bench-node").delete()
    return result


def child(task: dict) -> None:
    _django()
    from django.db import connection

    connection.ensure_connection()
    if task["task"] == "render":
        result = _render(task["format"])
    elif task["task"] == "command":
        result = _command(task["format"])
    elif task["task"] == "naive":
        result = _naive(task["format"], task["sample"])
    else:
        result = _http_304(task["requests"])
    print(json.dumps(result))


# ------------------------------------------------------------------------ parent orchestration --


def _run_child(task: dict, env: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.bench_exports", "--child", json.dumps(task)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _counts(url: str) -> dict:
    import psycopg

    tables = {
        "accounts": "accounts_account",
        "identities": "accounts_identity",
        "campaigns": "campaigns_campaign",
        "memberships": "campaigns_membership",
    }
    with psycopg.connect(url) as connection:
        return {
            key: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for key, table in tables.items()
        }


def _seed(env: dict, scale: float) -> dict:
    seeded = subprocess.run(
        [sys.executable, "-c", "import django, json; django.setup();"
         "from bench.seed import seed;"
         f"print(json.dumps(seed(scale={scale})))"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(seeded.stdout.strip().splitlines()[-1])


def _gunicorn_304(env: dict, requests: int) -> dict:
    """The 304 path through a real gunicorn (one sync worker), timed from a client here."""
    import http.client

    import psycopg

    from tests.harness.ports import free_port, wait_for_port

    name = f"bench-gunicorn-{os.getpid()}"
    created = subprocess.run(
        [sys.executable, "manage.py", "node_token", "create", name],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": f"Bearer {created.stdout.strip()}", "Host": "127.0.0.1"}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["--log-level", "warning", "webui.wsgi:application"],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_port(port, proc=server, what="gunicorn")

        def get(path: str, extra: dict) -> tuple[int, str, float]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            connection.request("GET", path, headers={**headers, **extra})
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            connection.close()
            return response.status, response.getheader("ETag"), elapsed

        get("/exports/multimap-ids", {})  # warm up: imports, URL resolvers, connection
        status, etag, full_ms = get("/exports/multimap-ids", {})
        assert status == 200, status
        timings, baseline = [], []
        for _ in range(requests):  # interleaved, so both see the same machine load
            status, _, elapsed = get("/exports/multimap-ids", {"If-None-Match": etag})
            assert status == 304, status
            timings.append(elapsed)
            baseline.append(get("/healthz", {})[2])
    finally:
        server.terminate()
        server.wait(timeout=30)
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("DELETE FROM campaigns_nodetoken WHERE name = %s", [name])
    timings.sort()
    baseline.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "healthz_p95_ms": round(baseline[int(len(baseline) * 0.95) - 1], 2),
        "full_200_ms": round(full_ms, 1),
    }


def _rows(exports: dict, http: dict) -> list[dict]:
    rows = []
    for format_name, measured in exports.items():
        render, command, naive = measured["render"], measured["command"], measured["naive"]
        speedup = naive["extrapolated_seconds"] / max(render["seconds"], 1e-3)
        rows.append(
            {
                "measure": f"{format_name}: whole export",
                "value": render["seconds"],
                "unit": "s",
                "target": "< 3 s",
                "met": render["seconds"] < 3,
                "ratio": f"{speedup:,.0f}x faster than naive ORM "
                f"(~{naive['extrapolated_seconds']:,.0f} s, from {naive['sampled_rows']} rows)",
                "note": f"{render['lines']:,} lines; export_mappings --output "
                f"{command['new_file_seconds']} s new, {command['unchanged_seconds']} s unchanged",
            }
        )
        rows.append(
            {
                "measure": f"{format_name}: peak memory",
                "value": render["peak_rss_mb"],
                "unit": "MB",
                "target": "< 200 MB",
                "met": render["peak_rss_mb"] < 200,
                "ratio": "",
                "note": f"ru_maxrss of the whole process; +{render['rss_growth_mb']} MB while "
                f"exporting; command {command['peak_rss_mb']} MB",
            }
        )
    gunicorn = http["gunicorn"]
    cached = http["test_client_version_cached"]
    uncached = http["test_client_version_uncached"]
    rows.append(
        {
            "measure": "GET /exports/multimap-ids, If-None-Match: 304 p95 (gunicorn)",
            "value": gunicorn["p95_ms"],
            "unit": "ms",
            "target": "< 5 ms",
            "met": gunicorn["p95_ms"] < 5,
            "ratio": f"{gunicorn['p95_ms'] / gunicorn['healthz_p95_ms']:.2f}x /healthz p95 "
            f"({gunicorn['healthz_p95_ms']} ms); full 200: {gunicorn['full_200_ms']:,.0f} ms",
            "note": f"p50 {gunicorn['p50_ms']} ms over {gunicorn['requests']} requests, "
            "one sync worker, new connection each",
        }
    )
    rows.append(
        {
            "measure": "304 p95 (Django test client), data version cached",
            "value": cached["p95_ms"],
            "unit": "ms",
            "target": "< 5 ms",
            "met": cached["p95_ms"] < 5,
            "ratio": f"uncached data version: p50 {uncached['p50_ms']} ms",
            "note": "uncached = the aggregate query, once per GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.getenv("BENCH_SCALE", "1.0")),
        help="share of the full data set, when this script seeds the database",
    )
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--requests", type=int, default=500, help="304 requests to time")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    sys.path.insert(0, str(ROOT))
    from bench.seed import ISSUER
    from tests.harness.services import start_postgres

    server = None
    url = os.environ.get("DATABASE_URL", "")
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-exports-"))
    try:
        idpsecrets = workdir / "idpsecrets.json"
        provider = {"issuer": ISSUER, "client_id": "bench", "client_secret": "bench"}
        idpsecrets.write_text(json.dumps({"dev": {**provider, "op_alias": "escape"}}))
        if not url.startswith("postgres"):
            server = start_postgres()
            url = server.url
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "webui.settings",
            "DEBUG": "False",
            "GATEHOUSE_IDPSECRETS": str(idpsecrets),
            "PYTHONPATH": str(ROOT),
        }
        seeded = None
        if server or _counts(url)["accounts"] == 0:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True
            )
            seeded = _seed(env, args.scale)
        exports = {}
        for format_name in FORMATS:
            exports[format_name] = {
                "render": _run_child({"task": "render", "format": format_name}, env),
                "command": _run_child({"task": "command", "format": format_name}, env),
                "naive": _run_child(
                    {"task": "naive", "format": format_name, "sample": args.naive_sample}, env
                ),
            }
        http = _run_child({"task": "http304", "requests": args.requests}, env)
        http["gunicorn"] = _gunicorn_304(env, args.requests)
        report = {
            "benchmark": "exports",
            "rows": _rows(exports, http),
            "data": _counts(url),
            "seeded": seeded,
            "details": {"exports": exports, "http_304": http},
        }
        print(json.dumps(report))
    finally:
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
