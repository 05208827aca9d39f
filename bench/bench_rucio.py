"""Rucio provisioning: reconcile 10,000 USER accounts with 20,000 identities into a real Rucio.
Target (issue 14): the no-change run makes O(pages) requests, not O(accounts). Baseline in the
same run: the naive check, one request per identity (`GET /identities/accounts?identity_key=`),
which is what a per-identity sync loop costs even when nothing changed.
Rucio 41.5.1 runs from its cached virtualenv (tests/harness/rucio.py, 2 gunicorn workers) on the
seeded PostgreSQL server; Gatehouse's data goes into a fresh database made here. BENCH_SCALE
scales the account count.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCALE = float(os.getenv("BENCH_SCALE", "1.0"))
ACCOUNTS = max(100, int(10_000 * SCALE))
ISSUER = "https://iam.example.org/"


def child() -> None:
    """Runs in a process whose environment points Gatehouse at the fresh database and Rucio."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    django.setup()
    from accounts.models import Account, Identity
    from accounts.rucio.client import RucioClient, RucioConfig
    from accounts.rucio.sync import rucio_sync

    accounts = Account.objects.bulk_create(
        Account(name=f"user{n:05d}", email=f"user{n:05d}@example.org", uid=100_000 + n)
        for n in range(ACCOUNTS)
    )
    Identity.objects.bulk_create(
        identity
        for a in accounts
        for identity in (
            Identity(account=a, type="OIDC", identity=f"SUB={a.name}-sub, ISS={ISSUER}"),
            Identity(account=a, type="X509", identity=f"/C=DE/O=Bench/CN={a.name}"),
        )
    )
    started = time.monotonic()
    first = rucio_sync(triggered_by="bench")
    first_s = time.monotonic() - started
    started = time.monotonic()
    again = rucio_sync(triggered_by="bench")
    again_s = time.monotonic() - started
    started = time.monotonic()
    with RucioClient(RucioConfig.from_settings()) as client:
        for identity in Identity.objects.values_list("type", "identity").iterator():
            client.accounts_for_identity(type=identity[0], identity=identity[1])
        naive_requests = client.requests
    naive_s = time.monotonic() - started
    identities = 2 * ACCOUNTS
    rows = [
        {
            "measure": f"first run: {ACCOUNTS:,} accounts, {identities:,} identities",
            "value": round(first_s, 1),
            "unit": "s",
            "target": "",
            "met": None,
            "ratio": "",
            "note": f"{first.outcome}; {first.counts['requests']:,} requests "
            f"({first.counts['created']:,} created, +{first.counts['identities_added']:,} ids)",
        },
        {
            "measure": "no-change run: requests",
            "value": again.counts["requests"],
            "unit": "requests",
            "target": "O(pages), not O(accounts)",
            "met": again.counts["requests"] < 10,
            "ratio": f"{naive_requests / again.counts['requests']:,.0f}x fewer than naive",
            "note": f"{again.outcome} in {again_s:.2f} s; {again.counts['in_sync']:,} in sync",
        },
        {
            "measure": "naive check, one request per identity (baseline)",
            "value": round(naive_s, 1),
            "unit": "s",
            "target": "",
            "met": None,
            "ratio": f"{naive_s / again_s:,.0f}x slower than the no-change run",
            "note": f"{naive_requests:,} requests",
        },
    ]
    print(json.dumps({"benchmark": "rucio", "rows": rows}))


def main() -> None:
    sys.path.insert(0, str(REPO))
    from bench.bench_scim import _fresh_database, _migrate
    from tests.harness.rucio import ROOT_USERNAME, start_rucio

    seeded_url = os.environ["DATABASE_URL"]
    url = _fresh_database(seeded_url, "bench_rucio")
    _migrate(url)
    rucio = start_rucio(postgres_url=seeded_url)
    try:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "GATEHOUSE_RUCIO_URL": rucio.url,
            "GATEHOUSE_RUCIO_ACCOUNT": "root",
            "GATEHOUSE_RUCIO_USERNAME": ROOT_USERNAME,
            "GATEHOUSE_RUCIO_PASSWORD": rucio.root_password,
            "GATEHOUSE_RUCIO_FAILSAFE_PERCENT": "100",
        }
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_rucio", "--child"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        print(out.stdout.strip().splitlines()[-1])
    finally:
        rucio.stop()


if __name__ == "__main__":
    child() if "--child" in sys.argv else main()
