"""The prepared reads' generic plans against PostgreSQL's own per-call plans, on the seeded data.

accounts/prepared.py lets a read be a prepared statement planned once, with its values unknown
(`PreparedQuery(generic_plan=True)`). That is only right for a read whose best plan does not
depend on the values: a generic plan of the campaign list ran 140x slower than a per-call one.
This loads each page of bench_pages once in-process, takes every read that ran as a prepared
statement with the values it ran with, and runs it 1,000 times each way on a connection of its
own: as a prepared statement under plan_cache_mode=force_generic_plan (as the pages do), and as
a plain statement that PostgreSQL parses and plans on every call (as Django's other queries).
Each row is the PostgreSQL backend's CPU per run (from /proc), generic against per-call.
The target: no generic plan costs more than the per-call one (planning included), 10 % noise
allowed, and 0.02 ms: the resolution of /proc's CPU times over 1,000 runs.
"""

import json
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 1000
TOLERANCE = 1.1
RESOLUTION_MS = 0.02  # two clock ticks of /proc (10 ms) over RUNS runs


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _label(sql: str) -> str:
    """The tables the read joins, in the order its SQL names them."""
    tables = dict.fromkeys(re.findall(r'(?:FROM|JOIN) "(\w+)"', sql))
    return " + ".join(tables)


def _prepared_reads(pages: dict) -> dict[str, list]:
    """SQL -> the values it first ran with, for each read the pages ran as a prepared one."""
    from django.db import connection
    from django.test import Client

    from accounts.prepared import _preparing_cursor

    found: dict[str, list] = {}

    def spy(execute, sql, params, many, context):
        if isinstance(context["cursor"].cursor, _preparing_cursor()):
            found.setdefault(sql, list(params or []))
        return execute(sql, params, many, context)

    for path, cookie in pages.values():
        client = Client()
        client.cookies.load(cookie)
        with connection.execute_wrapper(spy):
            assert client.get(path).status_code == 200, path
    return found


def _cost(cursor, pid: int, sql: str, params: list, **options) -> float:
    """The backend's CPU per run of `sql` through `cursor` (after ten runs to warm it)."""
    for _ in range(10):
        cursor.execute(sql, params, **options).fetchall()
    before = _backend_cpu(pid)
    for _ in range(RUNS):
        cursor.execute(sql, params, **options).fetchall()
    return (_backend_cpu(pid) - before) / RUNS * 1000


def main() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    import psycopg

    from bench.bench_pages import _sessions

    pages, _members = _sessions()
    # Every filter of the list, logged in and not, and a later page: each is a read of its own.
    path, cookie = pages["campaign list"]
    for show in ("mine", "embargo", "public"):
        pages[f"list {show}"] = (f"{path}?show={show}", cookie)
        pages[f"list {show}, anonymous"] = (f"{path}?show={show}", "")
    pages["list, anonymous"] = (path, "")
    pages["list, page 3"] = (f"{path}?page=3", cookie)
    reads = _prepared_reads(pages)
    url = os.environ["DATABASE_URL"]
    rows = []
    plain, prepared = (psycopg.connect(url, autocommit=True) for _ in range(2))
    with plain, prepared:
        prepared.execute("SET plan_cache_mode = force_generic_plan")
        plain_pid = plain.execute("SELECT pg_backend_pid()").fetchone()[0]
        prepared_pid = prepared.execute("SELECT pg_backend_pid()").fetchone()[0]
        for sql, params in reads.items():
            custom = _cost(psycopg.ClientCursor(plain), plain_pid, sql, params)
            generic = _cost(psycopg.Cursor(prepared), prepared_pid, sql, params, prepare=True)
            ratio = generic / custom if custom else 1.0
            rows.append(
                {
                    "measure": f"prepared read, {_label(sql)}: PostgreSQL CPU per run",
                    "value": round(generic, 3),
                    "unit": "ms",
                    "target": f"<= {TOLERANCE}x planned per call",
                    "met": generic <= custom * TOLERANCE + RESOLUTION_MS,
                    "ratio": f"{ratio:.2f}x per-call plan",
                    "note": f"planned per call {custom:.3f} ms; {RUNS} runs each, values of the "
                    "bench pages' run",
                }
            )
    print(json.dumps({"benchmark": "plans", "rows": rows}))


if __name__ == "__main__":
    main()
