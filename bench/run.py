"""`make bench`: seed a throwaway PostgreSQL, run every bench/bench_*.py, rewrite bench/README.md.

Each benchmark is a module with `main()` that prints, as its last stdout line, one JSON object:
{"benchmark": "name", "rows": [{"measure": str, "value": number, "unit": str, "target": str,
"met": bool | null, "ratio": str, "note": str}]}. Benchmarks get DATABASE_URL pointing at the seeded
database and BENCH_SCALE; the destructive ones run last.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# read-only first, destructive last
ORDER = [
    "inspection",
    "pages",
    "plans",
    "healthz",
    "issuer",
    "exports",
    "permissions",
    "scim",
    "rucio",
    "cleanup",
]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kb / 2**20:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def discover(only: list[str] | None) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))
    ordered = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
    return [n for n in ordered if not only or n in only]


def run_one(name: str, env: dict) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", f"bench.bench_{name}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    lines = [line for line in result.stdout.strip().splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr or result.stdout)[-1500:]
        print(f"bench_{name} failed (exit {result.returncode}):\n{tail}", file=sys.stderr)
        return {"benchmark": name, "rows": [], "error": f"exit {result.returncode}"}
    report = json.loads(lines[-1])
    report.setdefault("benchmark", name)
    report["seconds"] = round(seconds, 1)
    return report


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(reports: list[dict], *, scale: float, seed_info: dict) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; seed scale {scale} "
        f"({', '.join(f'{v:,} {k}' for k, v in seed_info.get('counts', {}).items())}; "
        f"seeded in {seed_info.get('seconds', '?')} s).",
        "",
        "| benchmark | measure | value | target | met | ratio / baseline | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        if report.get("error"):
            lines.append(f"| {report['benchmark']} | — | failed: {report['error']} | | no | | |")
        for row in report.get("rows", []):
            met = {True: "yes", False: "**no**", None: ""}[row.get("met")]
            value = f"{_fmt(row.get('value', ''))} {row.get('unit', '')}".strip()
            cells = [report["benchmark"], row.get("measure", ""), value, row.get("target", "")]
            cells += [met, row.get("ratio", ""), row.get("note", "")]
            lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def write_readme(table: str) -> None:
    readme = BENCH / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=float(os.getenv("BENCH_SCALE", "1.0")))
    parser.add_argument("--only", nargs="*", help="benchmark names, e.g. exports pages")
    parser.add_argument("--no-readme", action="store_true", help="print, do not rewrite README")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from tests.harness.services import start_postgres, start_redis

    postgres = start_postgres(extra_conf={"max_wal_size": "4GB", "work_mem": "32MB"})
    redis = start_redis()
    try:
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "CELERY_BROKER_URL": redis.url,
            "BENCH_SCALE": str(args.scale),
            "DJANGO_SETTINGS_MODULE": "webui.settings",
            "PYTHONPATH": str(REPO),
            "DEBUG": "False",
        }
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True
        )
        seeded = subprocess.run(
            [sys.executable, "-c", "import django, json; django.setup();"
             "from bench.seed import seed;"
             f"print(json.dumps(seed(scale={args.scale})))"],
            cwd=REPO, env={**env, "GATEHOUSE_DB_STATEMENT_TIMEOUT_MS": "0"},  # COPY takes long
            capture_output=True, text=True,
        )  # fmt: skip
        if seeded.returncode != 0:
            print(f"seeding failed:\n{seeded.stderr[-3000:]}", file=sys.stderr)
            return 1
        seed_info = json.loads(seeded.stdout.strip().splitlines()[-1])
        print(f"seeded: {seed_info}")
        reports = []
        for name in discover(args.only):
            print(f"running bench_{name} ...", flush=True)
            report = run_one(name, env)
            print(json.dumps(report))
            reports.append(report)
    finally:
        redis.stop()
        postgres.stop()
    table = render(reports, scale=args.scale, seed_info=seed_info)
    print(table)
    if not args.no_readme:
        write_readme(table)
    return 1 if any(r.get("error") for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
