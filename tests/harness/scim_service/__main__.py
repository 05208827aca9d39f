"""Run the loopback SCIM service as a process (for the benchmark, or by hand).

Prints one JSON line {"url", "scim_url", "users", "groups", "pid"} once it listens, then serves
until SIGTERM or SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import threading

from .auth import JwtBearerVerifier, StaticBearerVerifier
from .directory import generated_directory
from .server import ORDERS, ScimService


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness.scim_service")
    parser.add_argument("--users", type=int, default=250)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--memberships", type=int, default=2, help="direct groups per user")
    parser.add_argument("--oidc-ids", type=int, default=1, help="oidcIds per user")
    parser.add_argument("--certificates", type=int, default=1, help="certificates per user")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--order", choices=ORDERS, default="drift")
    parser.add_argument("--drift", type=int, default=1, help="swaps per request (order=drift)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--oidc-issuer",
        default="https://iam.example.org/",
        help="issuer written into the users' oidcIds",
    )
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--jwt-issuer", help="accept JWT access tokens from this issuer")
    auth.add_argument("--token", action="append", help="accept exactly this token (repeatable)")
    parser.add_argument("--audience", help="required aud of JWT access tokens")
    args = parser.parse_args(argv)

    if args.jwt_issuer:
        verifier = JwtBearerVerifier(args.jwt_issuer, audience=args.audience)
    else:
        verifier = StaticBearerVerifier(args.token)

    directory = generated_directory(
        users=args.users,
        groups=args.groups,
        seed=args.seed,
        oidc_issuer=args.oidc_issuer,
        memberships_per_user=args.memberships,
        oidc_ids=args.oidc_ids,
        certificates=args.certificates,
    )
    service = ScimService(
        directory, verifier, seed=args.seed, order=args.order, drift=args.drift, port=args.port
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ready = {
        "url": service.url,
        "scim_url": service.scim_url,
        "users": args.users,
        "groups": args.groups,
        "pid": os.getpid(),
    }
    print(json.dumps(ready), flush=True)
    stop.wait()
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
