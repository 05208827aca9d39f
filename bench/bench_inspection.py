"""Token inspection throughput: full validation of an RS256 token with a warm JWKS cache.

Compared in the same run with a bare PyJWT decode (key given) and the raw `cryptography`
RSA verify, the floor. Prints one JSON object to stdout. Target: >= 5,000 tokens/s on one core.

    python bench/bench_inspection.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jwt  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from tests.harness.jwks_server import LoopbackIssuer, rsa_key  # noqa: E402
from tokens.inspection import JwksCache, TrustedIssuer, inspect_token  # noqa: E402

TARGET_PER_SECOND = 5000
AUDIENCE = "https://storage.example.org"


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls per second of `operation`, best of three rounds of about `seconds` / 3 each."""
    for _ in range(50):  # warm-up
        operation()
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(100):
                operation()
            count += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    private = rsa_key(2048)
    with LoopbackIssuer(keys={"rsa1": private}) as server:
        trusted = {server.issuer: TrustedIssuer(server.issuer, storage_base_path="/vo")}
        cache = JwksCache()
        cache.warm(trusted[server.issuer])
        token = server.sign(server.claims(aud=AUDIENCE, exp=int(time.time()) + 3600))
        public = private.public_key()

        def full() -> object:
            result = inspect_token(token, issuers=trusted, jwks=cache, audience=AUDIENCE)
            assert result.valid
            return result

        def pyjwt_decode() -> object:
            return jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE)

        signing_input, _, signature_b64 = token.rpartition(".")
        signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
        message = signing_input.encode()

        def crypto_verify() -> None:
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())

        full()
        fetches = server.total_requests
        results = {
            "inspection_per_s": rate(full, args.seconds),
            "pyjwt_decode_per_s": rate(pyjwt_decode, args.seconds),
            "crypto_verify_per_s": rate(crypto_verify, args.seconds),
        }
        assert server.total_requests == fetches, "the warm cache must not fetch"

    full, bare, floor = (
        results["inspection_per_s"],
        results["pyjwt_decode_per_s"],
        results["crypto_verify_per_s"],
    )
    report = {
        "benchmark": "inspection",
        "rows": [
            {
                "measure": "full inspection, RS256, warm JWKS cache, one core",
                "value": round(full),
                "unit": "tokens/s",
                "target": f">= {TARGET_PER_SECOND:,}/s",
                "met": full >= TARGET_PER_SECOND,
                "ratio": f"{full / bare:.2f}x bare PyJWT decode, {full / floor:.2f}x raw verify",
                "note": f"PyJWT {jwt.__version__}, {len(token)}-char token, 2048-bit key",
            },
            {
                "measure": "bare PyJWT decode, key given (baseline)",
                "value": round(bare),
                "unit": "tokens/s",
                "target": "",
                "met": None,
                "ratio": "",
                "note": "jwt.decode with aud and exp checks",
            },
            {
                "measure": "raw cryptography RSA verify (floor)",
                "value": round(floor),
                "unit": "verifies/s",
                "target": "",
                "met": None,
                "ratio": "",
                "note": "PKCS#1 v1.5 SHA-256 only",
            },
        ],
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
