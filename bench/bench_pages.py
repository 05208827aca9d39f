"""Campaign list, detail and manage pages served by gunicorn on the seeded database.

Target (issue 4): with 20 concurrent users, p95 < 50 ms and zero errors per page.

Pages: the campaign list (first page), the list searched for SEARCH (every campaign's slug, title,
description and PI name is checked), the detail page of the busiest campaign seen by one of its
members (member list shown) and its manage page seen by its PI. Sessions are made straight in
the database. /healthz (one trivial query and a Redis ping) is the baseline in the same run,
measured first and again after the pages: issue 16's page cost compares each page's server CPU
per request with the mean of the two, because /healthz's own cost drifts by up to 40 % between
runs on these shared cores (2.3 to 3.4 ms in one day with unchanged code).

Two load models, each run per page:

- "20 users": 20 clients, each sends a request, reads the whole response, then thinks for an
  exponentially distributed time with mean BENCH_THINK_SECONDS (0.5 s; a person clicking
  around thinks for longer, so this is a busy 20) before the next one; a random first think
  spreads the starts. This is the row with the target. Reported: p95 (the target), p50, p99,
  errors, throughput.
- "saturation": the same 20 clients with no think time (closed loop). Reported for
  information: throughput and p95. In a closed loop latency is set by Little's law, mean
  latency = clients / throughput (20 / 400 req/s = 50 ms): on 2 cores its p95 measures the
  queue, not the page, and the throughput is the figure to compare.

Errors: any status other than 200, a timeout (10 s) or a broken connection. A kept-alive
connection the server closed in between is reopened once and the request sent again, as
browsers do; that counts as a reconnect, not an error.

The server: gunicorn with 4 sync workers, as issue 16 measured its page cost (a connection per
request, as behind nginx). README.md's production line runs gthread workers
(BENCH_GUNICORN_ARGS="--workers 4 --worker-class gthread --threads 4"): there the workers'
keep-alive polling between a user's requests is CPU too, which makes /healthz cost 4-5 ms in
the 20-users run and every page ratio look better than it is, so the page-cost target is
judged with sync workers.

The load generator is light, so that it disturbs the 2 shared cores as little as possible: one
asyncio event loop in its own process (no threads, no GIL hand-offs inside the timed span), raw
HTTP/1.1 that keeps connections alive when the server does, the start and end of each request
taken with perf_counter around the write and the last body byte. Reported with each row: the
generator's own CPU, the server's CPU per request (gunicorn workers + PostgreSQL backends, from
/proc), which is steadier than latency on a noisy machine, and what the other processes on the
machine used meanwhile (busy time from /proc/stat minus ours), because the cores are shared and
latency follows what is left of them.

Durations: BENCH_PAGE_SECONDS (20) per page for the users model, half that for saturation,
after a 2 s warm-up. The first warm-up starts once every worker has loaded the site: each
takes 4-5 s of CPU after the port opens, which the first /healthz run used to count.
"""

import asyncio
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
CLIENTS = 20
SECONDS = float(os.getenv("BENCH_PAGE_SECONDS", "20"))
THINK = float(os.getenv("BENCH_THINK_SECONDS", "0.5"))
GUNICORN = os.getenv("BENCH_GUNICORN_ARGS", "--workers 4").split()  # README.md's production line
TARGET_MS = 50
COST_RATIO = 2.5  # issue 16: CPU per request of each campaign page against /healthz's
SEARCH = "camp-012"  # matches 100 campaigns by slug at scale 1.0; every row is checked


def _sessions() -> tuple[dict[str, tuple[str, str]], int]:
    """The pages to load, each with a session cookie made straight in the DB."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db import connection
    from django.db.models import Count, Q
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.urls import reverse
    from django.utils.crypto import get_random_string

    from accounts.sessions import SessionStore
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
        """The cookies of a browser that has been on the site: its session and its CSRF
        secret (without one, every page would make a new secret and set it)."""
        store = SessionStore()
        store[SESSION_KEY] = str(account.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = account.get_session_auth_hash()
        store.create()
        csrf = get_random_string(CSRF_SECRET_LENGTH, allowed_chars=CSRF_ALLOWED_CHARS)
        return (
            f"{settings.SESSION_COOKIE_NAME}={store.session_key}; "
            f"{settings.CSRF_COOKIE_NAME}={csrf}"
        )

    pages = {
        "healthz (baseline)": ("/healthz", ""),
        "campaign list": (reverse("campaigns:list"), cookie(member)),
        "campaign list, search": (reverse("campaigns:list") + f"?q={SEARCH}", cookie(member)),
        "campaign detail (member)": (
            reverse("campaigns:detail", args=[campaign.slug]),
            cookie(member),
        ),
        "campaign manage (PI)": (
            reverse("campaigns:manage", args=[campaign.slug]),
            cookie(campaign.pi),
        ),
    }
    connection.close()
    return pages, campaign.n


# --- the load generator (runs in its own process) ---------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for gunicorn's responses."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, request: bytes) -> int:
        """Send one request and read the whole response; returns the status code."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while size := int((await self.reader.readuntil(b"\r\n")).strip() or b"0", 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection") == "close":
            self.close()
        return status


async def _client(port, request, deadline, think, rng, out) -> None:
    conn = _Connection(port)
    if think:
        await asyncio.sleep(rng.uniform(0, 2 * think))
    while time.monotonic() < deadline:
        started = time.perf_counter()
        status = None
        for attempt in range(2):
            reused = conn.writer is not None
            try:
                if not reused:
                    await conn.open()
                status = await asyncio.wait_for(conn.get(request), timeout=10)
                break
            except (OSError, EOFError):  # timeouts are OSErrors, short reads EOFErrors
                conn.close()
                if not reused or attempt:
                    break
                out["reconnects"] += 1
        out["latencies"].append(time.perf_counter() - started)
        if status != 200:
            out["errors"] += 1
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))
    conn.close()


async def _drive(port, path, cookie, seconds, think, seed) -> dict:
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n"
    request = (head + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n").encode()
    out = {"latencies": [], "errors": 0, "reconnects": 0}
    deadline = time.monotonic() + seconds
    rng = random.Random(seed)
    clients = [
        _client(port, request, deadline, think, random.Random(rng.random()), out)
        for _ in range(CLIENTS)
    ]
    await asyncio.gather(*clients)
    return out


def drive(port: int, path: str, cookie: str, seconds: float, think: float, seed: int) -> dict:
    """Entry point in the load process: latencies, errors, and this process's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    out = asyncio.run(_drive(port, path, cookie, seconds, think, seed))
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["wall"] = time.monotonic() - started
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


# --- server CPU from /proc --------------------------------------------------------------------


def _children(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(parent: int) -> dict[int, float]:
    """CPU seconds of each child of `parent`, and under key 0 those of the children it has
    already reaped (PostgreSQL ends a backend when Django drops an old connection)."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = _stat(parent)
    seconds = {0: (int(fields[13]) + int(fields[14])) / tick}  # cutime, cstime
    for pid in _children(parent):
        try:
            fields = _stat(pid)
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return seconds


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used in between: what the living processes added, plus what ended ones used after
    `before` (their whole lives went into the reaped total, key 0)."""
    grown = sum(value - before.get(pid, 0.0) for pid, value in after.items())
    return grown - sum(value for pid, value in before.items() if pid not in after)


def _wait_booted(gunicorn: int, workers: int, timeout: float = 60) -> None:
    """Wait until gunicorn's workers have loaded the site: each imports Django and the apps
    after the port is open (4-5 s of CPU each here), which a first measurement would count."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(gunicorn)
        if len(now) - 1 == workers and last is not None and _used(last, now) <= 0.01:
            return  # all there, and together they used at most a clock tick in 0.5 s
        last = now
    raise TimeoutError(f"gunicorn's {workers} workers were still starting after {timeout:.0f} s")


def _postmaster(port: int) -> int | None:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"postgres") and f"port={port}".encode() in args:
            return int(cmdline.parent.name)
    return None


class ServerCpu:
    """CPU seconds used by the gunicorn workers and the PostgreSQL backends between samples."""

    def __init__(self, gunicorn: int):
        self.gunicorn = gunicorn
        port = urlparse(os.environ.get("DATABASE_URL", "")).port
        self.postmaster = _postmaster(port) if port else None

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        web = _cpu_seconds(self.gunicorn)
        db = _cpu_seconds(self.postmaster) if self.postmaster else {}
        return web, db


def _machine_busy() -> float:
    """CPU seconds all processes on the machine have used so far (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # up to steal, no guest


# --- the run ----------------------------------------------------------------------------------


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))] * 1000


def measured(cpu: ServerCpu, run) -> dict:
    """Run one load phase (`run()` returns the load generator's counts) and summarise it:
    latencies, the server's CPU per request, and what other processes used meanwhile."""
    web0, db0 = cpu.sample()
    busy0 = _machine_busy()
    out = run()
    busy = _machine_busy() - busy0
    web1, db1 = cpu.sample()
    latencies = sorted(out["latencies"])
    n = max(1, len(latencies))
    ours = _used(web0, web1) + _used(db0, db1) + out["cpu"]
    return {
        "others": max(0.0, busy - ours) / out["wall"],
        "n": len(latencies),
        "errors": out["errors"],
        "reconnects": out.get("reconnects", 0),
        "rate": len(latencies) / out["wall"],
        "p50": _pct(latencies, 0.50),
        "p95": _pct(latencies, 0.95),
        "p99": _pct(latencies, 0.99),
        "web_ms": _used(web0, web1) / n * 1000,
        "db_ms": _used(db0, db1) / n * 1000,
        "load_cpu": out["cpu"] / out["wall"],
    }


def _measure(pool, cpu: ServerCpu, port: int, path: str, cookie: str, *, seconds, think) -> dict:
    return measured(cpu, lambda: pool.apply(drive, (port, path, cookie, seconds, think, 1)))


def _rows(name: str, users: dict, saturated: dict, base: dict | None, members: int) -> list[dict]:
    baseline = base is None
    cpu = f"server CPU {users['web_ms']:.1f} ms/req web + {users['db_ms']:.1f} ms/req db"
    where = f"; campaign with {members} approved members" if "detail" in name else ""
    little = CLIENTS / saturated["rate"] * 1000
    return [
        {
            "measure": f"{name}: {CLIENTS} users, think {THINK:g} s, p95",
            "value": round(users["p95"], 1),
            "unit": "ms",
            "target": "" if baseline else f"< {TARGET_MS} ms, 0 errors",
            "met": None if baseline else users["p95"] < TARGET_MS and users["errors"] == 0,
            "ratio": "1.0x" if baseline else f"{users['p95'] / base['users']['p95']:.1f}x healthz",
            "note": f"p50 {users['p50']:.1f} ms, p99 {users['p99']:.1f} ms, "
            f"{users['n']} requests ({users['rate']:.0f}/s), {users['errors']} errors, "
            f"{users['reconnects']} reconnects; {cpu}; load generator "
            f"{users['load_cpu'] * 100:.0f}% of a core; other processes on the machine "
            f"{users['others']:.1f} of {os.cpu_count()} cores{where}",
        },
        {
            "measure": f"{name}: saturation, {CLIENTS} clients no think, throughput",
            "value": round(saturated["rate"]),
            "unit": "req/s",
            "target": "",
            "met": None,
            "ratio": "1.0x"
            if baseline
            else f"{saturated['rate'] / base['saturated']['rate']:.2f}x healthz",
            "note": f"p95 {saturated['p95']:.1f} ms, p50 {saturated['p50']:.1f} ms "
            f"(Little's law: {CLIENTS} clients / {saturated['rate']:.0f} req/s = "
            f"{little:.1f} ms mean), {saturated['errors']} errors; "
            f"server CPU {saturated['web_ms']:.1f} + {saturated['db_ms']:.1f} ms/req; "
            f"load generator {saturated['load_cpu'] * 100:.0f}% of a core; others "
            f"{saturated['others']:.1f} of {os.cpu_count()} cores",
        },
        *([] if baseline else [_cost_row(name, users, saturated, base)]),
    ]


def _cost_row(name: str, users: dict, saturated: dict, base: dict) -> dict:
    """Issue 16's page cost: server CPU per request (gunicorn + PostgreSQL) in the 20-users run,
    against /healthz's in the same run (the target is for the list, detail and manage pages, not
    the search); the saturation runs' figures for information."""

    def cost(run: dict) -> float:
        return run["web_ms"] + run["db_ms"]

    ratio = cost(users) / cost(base["users"])
    return {
        "measure": f"{name}: server CPU per request (web + db), {CLIENTS} users",
        "value": round(cost(users), 1),
        "unit": "ms",
        "target": "" if "search" in name else f"<= {COST_RATIO}x healthz",
        "met": None if "search" in name else ratio <= COST_RATIO,
        "ratio": f"{ratio:.1f}x healthz",
        "note": f"healthz {cost(base['users']):.1f} ms in the same run (the mean of its runs "
        f"before and after the pages); saturation: {cost(saturated):.1f} ms vs healthz "
        f"{cost(base['saturated']):.1f} ms ({cost(saturated) / cost(base['saturated']):.1f}x)",
    }


def _workers(arguments: list[str]) -> int:
    """How many workers BENCH_GUNICORN_ARGS asks gunicorn for (`--workers N`, `--workers=N`,
    `-w N`, `-wN`)."""
    for i, argument in enumerate(arguments):
        if argument in ("--workers", "-w"):
            return int(arguments[i + 1])
        if argument.startswith("--workers="):
            return int(argument.split("=", 1)[1])
        if argument.startswith("-w") and argument[2:].isdigit():
            return int(argument[2:])
    return 1  # gunicorn's default


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.harness.ports import free_port, wait_for_port

    pages, members = _sessions()
    port = free_port()
    env = {**os.environ, "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "webui.wsgi", "--bind", f"127.0.0.1:{port}"]
        + [*GUNICORN, "--keep-alive", "30", "--log-level", "warning"],
        cwd=REPO,
        env=env,
    )
    rows = []
    # spawn: a fresh interpreter without Django for the load generator
    context = multiprocessing.get_context("spawn")
    try:
        wait_for_port(port, proc=server, what="gunicorn")
        _wait_booted(server.pid, _workers(GUNICORN))
        cpu = ServerCpu(server.pid)
        with context.Pool(1) as pool:

            def run(path: str, cookie: str) -> tuple[dict, dict]:
                _measure(pool, cpu, port, path, cookie, seconds=2, think=0)  # warm up
                users = _measure(pool, cpu, port, path, cookie, seconds=SECONDS, think=THINK)
                saturated = _measure(pool, cpu, port, path, cookie, seconds=SECONDS / 2, think=0)
                return users, saturated

            measured_pages = {name: run(path, cookie) for name, (path, cookie) in pages.items()}
            baseline, (healthz, _cookie) = next(iter(pages.items()))
            again = run(healthz, "")
        first = measured_pages.pop(baseline)
        rows += _rows(baseline, *first, None, members)
        rows += _rows(f"{baseline}, again after the pages", *again, None, members)
        base = {
            model: {key: (first[i][key] + again[i][key]) / 2 for key in ("web_ms", "db_ms", "p95")}
            | {"rate": (first[i]["rate"] + again[i]["rate"]) / 2}
            for i, model in enumerate(("users", "saturated"))
        }
        for name, (users, saturated) in measured_pages.items():
            rows += _rows(name, users, saturated, base, members)
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(json.dumps({"benchmark": "pages", "rows": rows}))


if __name__ == "__main__":
    main()
