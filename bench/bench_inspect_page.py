"""Inspect page render time: POST a valid RS256 token with a warm JWKS cache, full page and the
htmx fragment, through Django's whole middleware stack. Target: p95 < 30 ms.

Prints one JSON object to stdout.

    python bench/bench_inspect_page.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 30.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per variant")
    args = parser.parse_args(argv)

    from tests.harness.jwks_server import LoopbackIssuer

    with LoopbackIssuer() as issuer, tempfile.TemporaryDirectory() as scratch:
        secrets = Path(scratch) / "idpsecrets.json"
        secrets.write_text(
            json.dumps(
                {
                    "bench": {
                        "issuer": issuer.issuer,
                        "client_id": "bench",
                        "client_secret": "bench",
                        "storage_base_path": "/vo",
                    }
                }
            )
        )
        # The page reads the accounts and campaigns behind a token: without `make bench`'s
        # database, a migrated SQLite file in the scratch folder will do.
        os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3")
        os.environ.update(
            DJANGO_SETTINGS_MODULE="webui.settings",
            GATEHOUSE_IDPSECRETS=str(secrets),
            DEBUG="False",
        )
        import django

        django.setup()
        from django.core.management import call_command

        from tokens.models import StorageElement

        call_command("migrate", verbosity=0)
        StorageElement.objects.get_or_create(
            name="se", defaults={"audiences": ["https://storage.example.org"]}
        )
        from django.test import Client

        if os.environ["DATABASE_URL"].startswith("sqlite"):
            call_command("migrate", verbosity=0)
        from django.test.utils import setup_test_environment

        setup_test_environment()
        client = Client()
        token = issuer.sign(issuer.claims(exp=int(time.time()) + 3600))
        form = {"token": token, "target": "se:se", "operation": "read", "path": "/vo/data/f"}
        results = {}
        for variant, headers in (("full_page", {}), ("htmx_fragment", {"HX-Request": "true"})):
            timings = []
            for index in range(args.requests + 20):
                start = time.perf_counter()
                response = client.post("/tokens/inspect/", form, headers=headers)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200 and b"This token is valid" in response.content
                if index >= 20:  # the first requests warm caches and templates
                    timings.append(elapsed)
            results[variant] = {
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(percentile(timings, 0.95), 2),
                "max_ms": round(max(timings), 2),
            }
        key_fetches = issuer.total_requests

    labels = {
        "full_page": "Inspect page POST, full page",
        "htmx_fragment": "Inspect page POST, htmx fragment",
    }
    report = {
        "benchmark": "inspect_page",
        "rows": [
            {
                "measure": f"{labels[variant]} p95",
                "value": timing["p95_ms"],
                "unit": "ms",
                "target": f"< {TARGET_P95_MS:g} ms",
                "met": timing["p95_ms"] < TARGET_P95_MS,
                "ratio": f"p50 {timing['p50_ms']} ms",
                "note": f"{args.requests} requests, warm JWKS cache ({key_fetches} key fetches)",
            }
            for variant, timing in results.items()
        ],
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
