"""Benchmark the exports on the full data set: time and peak memory of every format, the HTTP
304 path, and a naive ORM baseline for comparison. Prints one JSON document.

    python bench/bench_exports.py [--scale 1.0] [--naive-sample 2000]

DATABASE_URL pointing at a PostgreSQL that already holds data (e.g. seeded by the lead's
bench/seed.py) is used as it is. Otherwise a throwaway PostgreSQL is started and seeded with
100k accounts, 200k identities, 5k campaigns and 500k memberships (times --scale).

Each measurement runs in its own Python process, so its peak RSS (ru_maxrss) is its own.
Targets: every export < 3 s and < 200 MB; the 304 path < 5 ms.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ["multimap-ids", "multimap-campaigns", "group", "passwd", "ldif"]
ISSUER = "https://iam.example.org/"

# psycopg placeholders: %(name)s are the sizes, %% is SQL's modulo.
SEED_STATEMENTS = [
    """INSERT INTO accounts_account (password, is_superuser, name, type, status, status_reason,
        email, display_name, uid, is_staff, created, updated)
    SELECT '!', false, 'user' || lpad(i::text, 6, '0'), 'USER',
           CASE WHEN i %% 50 = 0 THEN 'SUSPENDED' ELSE 'ACTIVE' END, '',
           'user' || i || '@example.org',
           CASE WHEN i %% 10 = 0 THEN 'Jürgen Müller ' || i ELSE 'User Number ' || i END,
           20000 + i, false, now(), now()
    FROM generate_series(1, %(accounts)s) AS i""",
    """INSERT INTO accounts_identity (type, identity, email, source, idp, created, updated,
        account_id)
    SELECT 'X509', '/C=DE/O=GermanGrid/OU=Example, Inc./CN=User Number ' || a.id, '', 'manual',
           '', now(), now(), a.id
    FROM accounts_account a""",
    """INSERT INTO accounts_identity (type, identity, email, source, idp, created, updated,
        account_id)
    SELECT 'OIDC', 'SUB=' || md5(a.id::text) || ', ISS=' || %(issuer)s, '', 'scim', 'iam', now(),
           now(), a.id
    FROM accounts_account a""",
    """INSERT INTO campaigns_campaign (slug, title, description, gid, embargo_until, data_paths,
        status, created, updated, pi_id)
    SELECT 'camp-' || lpad(i::text, 5, '0'), 'Campaign ' || i, '', 30000000 + i, NULL,
           '[]'::jsonb, CASE WHEN i %% 100 = 0 THEN 'archived' ELSE 'active' END, now(), now(),
           (SELECT min(id) FROM accounts_account) + (i %% %(accounts)s)
    FROM generate_series(1, %(campaigns)s) AS i""",
    """INSERT INTO campaigns_membership (role, state, source, request_message, valid_until,
        comment, created, updated, account_id, campaign_id)
    SELECT 'member',
           CASE WHEN i %% 20 = 0 THEN 'requested' WHEN i %% 33 = 0 THEN 'revoked'
                ELSE 'approved' END,
           'portal', '', CASE WHEN i %% 40 = 0 THEN current_date - 1 ELSE NULL END, '', now(),
           now(), (SELECT min(id) FROM accounts_account) + (i %% %(accounts)s),
           (SELECT min(id) FROM campaigns_campaign)
             + (((i %% %(accounts)s) * 13 + (i / %(accounts)s) * (%(campaigns)s / 5))
               %% %(campaigns)s)
    FROM generate_series(0, %(memberships)s - 1) AS i""",
    """INSERT INTO campaigns_posixidcounter (kind, next_value)
    VALUES ('uid', 20001 + %(accounts)s), ('gid', 30000001 + %(campaigns)s)
    ON CONFLICT (kind) DO NOTHING""",
]


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
        [sys.executable, __file__, "--child", json.dumps(task)],
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


def _seed(url: str, scale: float) -> None:
    import psycopg

    sizes = {
        "accounts": int(100_000 * scale),
        "campaigns": max(int(5_000 * scale), 1),
        "memberships": int(500_000 * scale),
        "issuer": ISSUER,
    }
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in SEED_STATEMENTS:
            connection.execute(statement, sizes)
        connection.execute("VACUUM ANALYZE")


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

        def get(extra: dict) -> tuple[int, str, float]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.perf_counter()
            connection.request("GET", "/exports/multimap-ids", headers={**headers, **extra})
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            connection.close()
            return response.status, response.getheader("ETag"), elapsed

        status, etag, full_ms = get({})
        assert status == 200, status
        timings = []
        for _ in range(requests):
            status, _, elapsed = get({"If-None-Match": etag})
            assert status == 304, status
            timings.append(elapsed)
    finally:
        server.terminate()
        server.wait(timeout=30)
        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
            connection.execute("DELETE FROM campaigns_nodetoken WHERE name = %s", [name])
    timings.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
        "full_200_ms": round(full_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help="share of the full data set")
    parser.add_argument("--naive-sample", type=int, default=500)
    parser.add_argument("--requests", type=int, default=500, help="304 requests to time")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    sys.path.insert(0, str(ROOT))
    from tests.harness.services import start_postgres

    server = None
    url = os.environ.get("DATABASE_URL", "")
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-exports-"))
    try:
        idpsecrets = workdir / "idpsecrets.json"
        idpsecrets.write_text(
            json.dumps(
                {
                    "iam": {
                        "issuer": ISSUER,
                        "client_id": "bench",
                        "client_secret": "bench",
                        "op_alias": "escape",
                    }
                }
            )
        )
        if not url.startswith("postgres"):
            server = start_postgres()
            url = server.url
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "webui.settings",
            "DEBUG": "0",
            "GATEHOUSE_IDPSECRETS": str(idpsecrets),
            "PYTHONPATH": str(ROOT),
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True
        )
        seeded = False
        if _counts(url)["accounts"] == 0:
            started = time.perf_counter()
            _seed(url, args.scale)
            seeded = round(time.perf_counter() - started, 1)
        result = {
            "database": "throwaway PostgreSQL" if server else "DATABASE_URL",
            "seeded_seconds": seeded,
            "rows": _counts(url),
            "targets": {"export_seconds": 3, "export_peak_mb": 200, "http_304_ms": 5},
            "exports": {},
        }
        for format_name in FORMATS:
            render = _run_child({"task": "render", "format": format_name}, env)
            command = _run_child({"task": "command", "format": format_name}, env)
            naive = _run_child(
                {"task": "naive", "format": format_name, "sample": args.naive_sample}, env
            )
            result["exports"][format_name] = {
                "render": render,
                "command": command,
                "naive": naive,
                "speedup_vs_naive": round(naive["extrapolated_seconds"] / render["seconds"], 1)
                if naive["extrapolated_seconds"] and render["seconds"]
                else None,
                "meets_targets": render["seconds"] < 3 and render["peak_rss_mb"] < 200,
            }
        http = _run_child({"task": "http304", "requests": args.requests}, env)
        http["gunicorn"] = _gunicorn_304(env, args.requests)
        http["meets_target"] = http["gunicorn"]["p95_ms"] < 5
        result["http_304"] = http
        print(json.dumps(result, indent=2))
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
