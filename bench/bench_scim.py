"""SCIM sync of 100k IAM users (2 identities each) and 2k groups from the loopback IAM.

Targets (issue 6): first run < 120 s, a run with no changes < 30 s, peak memory < 400 MB.
Baseline in the same run: the naive one-transaction-per-user write (get_or_create per account
and identity, one uid at a time, as cron scripts do) on a sample of the same users, into a
database of its own; the ratio compares seconds per user.

The loopback IAM runs as its own process (`python -m tests.harness.scim_service`) with IAM's
unstable order ("drift"); bearer tokens come from the dev IdP. The sync writes into fresh
databases made here, not the seeded one. BENCH_SCALE scales the user and group counts.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
SCALE = float(os.getenv("BENCH_SCALE", "1.0"))
USERS = max(100, int(100_000 * SCALE))
GROUPS = max(10, int(2_000 * SCALE))
NAIVE_SAMPLE = max(200, USERS // 50)
NICK = "bench-iam"


def _fresh_database(url: str, name: str) -> str:
    """Create (or recreate) database `name` on the server of `url`; return its URL."""
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env, check=True
    )


def _start_iam(idp) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.harness.scim_service"]
        + ["--users", str(USERS), "--groups", str(GROUPS), "--seed", "7", "--order", "drift"]
        + ["--jwt-issuer", idp.issuer, "--audience", idp.scim_audience]
        + ["--oidc-issuer", "https://accounts.example.org/"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(proc.stdout.readline())
    return proc, ready


def _naive_sync(provider, snapshot, sample: list[str]) -> float:
    """One transaction per user, get_or_create per row: what the cron script does."""
    from django.db import transaction

    from accounts.identities import oidc_identity
    from accounts.models import Account, Identity
    from accounts.services import posix_id_allocate

    started = time.perf_counter()
    for scim_id in sample:
        user = snapshot.users[scim_id]
        with transaction.atomic():
            account, created = Account.objects.get_or_create(
                name=user.user_name[:25],
                defaults={"email": user.email, "display_name": user.display_name},
            )
            if created:
                account.uid = posix_id_allocate(kind="uid")
                account.save(update_fields=["uid"])
            keys = [("OIDC", oidc_identity(sub=scim_id, issuer=provider.issuer))]
            keys += [("OIDC", i) for i in user.oidc] + [("X509", d) for d in user.dns]
            for kind, value in keys:
                Identity.objects.get_or_create(
                    type=kind, identity=value, defaults={"account": account, "source": "scim"}
                )
    return time.perf_counter() - started


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.harness.idp import start_idp
    from tests.harness.scim_service.devidp import SCIM_CLIENT

    seeded_url = os.environ["DATABASE_URL"]
    sync_url = _fresh_database(seeded_url, "bench_scim")
    naive_url = _fresh_database(seeded_url, "bench_scim_naive")
    _migrate(sync_url)
    _migrate(naive_url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scim-"))
    rows = []
    with start_idp(workdir=workdir, clients=[SCIM_CLIENT], users=[]) as idp:
        iam, ready = _start_iam(idp)
        try:
            secrets = workdir / "idpsecrets.json"
            secrets.write_text(
                json.dumps(
                    {
                        NICK: {
                            "issuer": idp.issuer,
                            "client_id": "web",
                            "client_secret": "web",
                            "SCIM": {
                                "client_id": SCIM_CLIENT["client_id"],
                                "client_secret": SCIM_CLIENT["client_secret"],
                                "base_url": ready["scim_url"],
                            },
                            "unknown_users": "auto",
                        }
                    }
                )
            )
            os.environ.update(
                DATABASE_URL=sync_url,
                GATEHOUSE_IDPSECRETS=str(secrets),
                GATEHOUSE_SCIM_IDPS=NICK,
                GATEHOUSE_SCIM_FAILSAFE_PERCENT="10",
                LOG_LEVEL="WARNING",
            )
            rows = _measure(naive_url)
        finally:
            iam.terminate()
            iam.wait(timeout=30)
    print(json.dumps({"benchmark": "scim", "rows": rows}))


def _measure(naive_url: str) -> list[dict]:
    import django

    django.setup()
    from django.db import connections

    from accounts.idps import get_provider
    from accounts.models import Account, Identity
    from accounts.scim.sync import read_provider, scim_sync

    provider = get_provider(NICK)
    started = time.perf_counter()
    first = scim_sync(provider=provider, triggered_by="bench")
    first_seconds = time.perf_counter() - started
    assert first.outcome == "success", first.error
    started = time.perf_counter()
    again = scim_sync(provider=provider, triggered_by="bench")
    again_seconds = time.perf_counter() - started
    assert again.outcome == "success", again.error
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    accounts, identities = Account.objects.count(), Identity.objects.count()

    # The naive baseline writes a sample of the same users into its own database.
    snapshot = read_provider(provider)
    sample = sorted(snapshot.users)[:NAIVE_SAMPLE]
    connections["default"].close()
    connections["default"].settings_dict.update(_db_settings(naive_url))
    naive_seconds = _naive_sync(provider, snapshot, sample)
    naive_per_user = naive_seconds / len(sample)
    ours_per_user = first_seconds / USERS
    changes = first.counts
    return [
        {
            "measure": f"first run: {USERS:,} users, {GROUPS:,} groups",
            "value": round(first_seconds, 1),
            "unit": "s",
            "target": "< 120 s",
            "met": first_seconds < 120 if USERS == 100_000 else None,
            "ratio": f"{naive_per_user / ours_per_user:.1f}x faster per user than naive",
            "note": (
                f"{changes['created']:,} accounts, {changes['identities_added']:,} identities; "
                f"{changes['requests']:,} requests in {changes['passes']} passes; "
                f"read {changes['seconds_read']} s, plan {changes['seconds_plan']} s, "
                f"write {changes['seconds_apply']} s; "
                f"{accounts:,} accounts / {identities:,} identities in the DB"
            ),
        },
        {
            "measure": "run with no changes",
            "value": round(again_seconds, 1),
            "unit": "s",
            "target": "< 30 s",
            "met": again_seconds < 30 if USERS == 100_000 else None,
            "ratio": f"{again_seconds / first_seconds:.2f} of the first run",
            "note": (
                f"{again.counts['requests']:,} requests, {again.counts['passes']} passes; "
                f"read {again.counts['seconds_read']} s, plan {again.counts['seconds_plan']} s; "
                f"{again.counts['updated']} updated"
            ),
        },
        {
            "measure": "peak memory of the syncing process",
            "value": round(peak_mb),
            "unit": "MB",
            "target": "< 400 MB",
            "met": peak_mb < 400 if USERS == 100_000 else None,
            "ratio": "",
            "note": "max RSS (Django, the read snapshot, the plan); IAM runs in another process",
        },
        {
            "measure": f"naive baseline: one transaction per user ({len(sample):,} users)",
            "value": round(naive_per_user * 1000, 2),
            "unit": "ms/user",
            "target": "",
            "met": None,
            "ratio": f"ours {ours_per_user * 1000:.2f} ms/user",
            "note": f"extrapolated to {USERS:,} users: {naive_per_user * USERS:,.0f} s",
        },
    ]


def _db_settings(url: str) -> dict:
    parts = urlsplit(url)
    return {"NAME": parts.path.lstrip("/")}


if __name__ == "__main__":
    main()
