"""The storage-token issuer: token-endpoint issuance under load, and ES256 signing alone.

Targets (issue 13):
- issuance through the token endpoint (RFC 8693 exchange of a subject token whose issuer's keys
  are already cached, the policy, signing, the IssuedToken row and the audit event):
  p95 < 20 ms with 20 concurrent clients;
- signing alone >= 5,000 ES256 tokens/s on one core, with the ratio to a bare PyJWT encode of
  the same claims in the same run.

The endpoint is served by gunicorn (4 sync workers, as README.md runs it) on the seeded database;
the load generator is bench_pages' (one asyncio process, raw keep-alive HTTP/1.1) and so are the
two load models: "20 users" (20 clients, each thinking 0.5 s on average between requests: the
row with the target) and "saturation" (the same 20 with no think time: throughput, for
information; on 2 cores its latency is the queue, by Little's law). /healthz is the baseline in
the same run. The subject tokens come from a loopback OpenID issuer (tests/harness/jwks_server.py)
that the workers trust; each worker fetches its keys once, during the warm-up.

    python -m bench.run --only issuer      (or, with DATABASE_URL set: python -m bench.bench_issuer)
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_pages import (  # noqa: E402
    CLIENTS,
    GUNICORN,
    ServerCpu,
    _client,
    measured,
)

SECONDS = float(os.getenv("BENCH_ISSUER_SECONDS", "15"))
THINK = float(os.getenv("BENCH_THINK_SECONDS", "0.5"))
TARGET_MS = 20
TARGET_SIGN = 5000
AUDIENCE = "https://gatehouse-bench.example.org"
SITE_URL = "https://gatehouse-bench.example.org"


# --- the load generator (a spawned process without Django) ------------------------------------


async def _drive(port, request: bytes, seconds, think, seed) -> dict:
    out = {"latencies": [], "errors": 0, "reconnects": 0}
    deadline = time.monotonic() + seconds
    rng = random.Random(seed)
    await asyncio.gather(
        *(
            _client(port, request, deadline, think, random.Random(rng.random()), out)
            for _ in range(CLIENTS)
        )
    )
    return out


def drive(port: int, request: bytes, seconds: float, think: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    out = asyncio.run(_drive(port, request, seconds, think, 1))
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["wall"] = time.monotonic() - started
    out["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out


def _measure(pool, cpu: ServerCpu, port: int, request: bytes, *, seconds, think) -> dict:
    return measured(cpu, lambda: pool.apply(drive, (port, request, seconds, think)))


# --- set-up in the database -------------------------------------------------------------------


def _world(loop_issuer) -> dict:
    """An active key, a storage element, a campaign with a member whose OIDC identity is at the
    loopback issuer; returns the form of one exchange request."""
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from accounts.identities import oidc_identity
    from accounts.models import Account, Identity
    from accounts.services import account_create
    from campaigns.models import Campaign, Membership
    from tokens.issuer.keys import issuer_key_create
    from tokens.models import IssuerKey, StorageElement

    if not IssuerKey.objects.filter(state=IssuerKey.State.ACTIVE).exists():
        issuer_key_create()
    StorageElement.objects.get_or_create(
        name="bench-se", defaults={"audiences": ["https://se.bench.example.org"], "base_path": "/"}
    )
    member = Account.objects.filter(name="bench-issuer").first() or account_create(
        name="bench-issuer"
    )
    Identity.objects.get_or_create(
        type=Identity.Type.OIDC,
        identity=oidc_identity(sub="bench-member", issuer=loop_issuer.issuer),
        defaults={"account": member},
    )
    campaign = Campaign.objects.filter(slug="bench-issuer").first()
    if campaign is None:
        campaign = Campaign.objects.create(
            slug="bench-issuer",
            title="Issuer benchmark",
            pi=member,
            gid=2_000_000_000,
            data_paths=["/bench-issuer/data"],
            embargo_until=timezone.localdate() + timezone.timedelta(days=365),
        )
        Membership.objects.create(
            campaign=campaign, account=member, role="member", state="approved"
        )
    connection.close()
    subject = loop_issuer.sign(
        loop_issuer.claims(sub="bench-member", aud=AUDIENCE, exp=int(time.time()) + 7200),
        kid="rsa1",
    )
    return {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": subject,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "bench-se",
        "scope": "storage.read:/bench-issuer/data/run1/f.fits",
    }


def _post(path: str, form: dict) -> bytes:
    body = urlencode(form).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


# --- signing alone ----------------------------------------------------------------------------


def _rates(first, second, seconds: float, rounds: int = 6) -> tuple[float, float]:
    """Best calls/s of each, measured in alternating short rounds so that noise from the other
    processes on the shared machine hits both alike."""
    for _ in range(50):
        first()
        second()
    best = [0.0, 0.0]
    for _ in range(rounds):
        for index, operation in enumerate((first, second)):
            count, start = 0, time.perf_counter()
            deadline = start + seconds / (2 * rounds)
            while True:
                for _ in range(50):
                    operation()
                count += 50
                now = time.perf_counter()
                if now >= deadline:
                    break
            best[index] = max(best[index], count / (now - start))
    return best[0], best[1]


def _signing_rows(seconds: float) -> list[dict]:
    """Gatehouse's signer (claims built per token, as the endpoint does) vs bare jwt.encode of
    the same claims, on one core, in one process."""
    from datetime import timedelta

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.utils import timezone

    from tokens.issuer.keys import Signer
    from tokens.issuer.services import storage_token_claims
    from tokens.models import StorageElement
    from tokens.policy import Grant, ScopeRequest

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    key = ec.generate_private_key(ec.SECP256R1())
    signer = Signer(kid="bench-kid", alg="ES256", key=key)

    class _Account:
        token_subject = "8d2f3b3e-6b5e-4a55-9c7e-3f5d2c1b0a99"

    element = StorageElement(name="se", audiences=["https://se.example.org"])
    grant = Grant((ScopeRequest("read", "/c/run1/f.fits"),), timedelta(minutes=20), ("",))

    def ours():
        claims = storage_token_claims(
            account=_Account,
            storage_element=element,
            grant=grant,
            client_id="gatehouse",
            now=timezone.now(),
        )
        return signer.sign(claims)

    claims = storage_token_claims(
        account=_Account,
        storage_element=element,
        grant=grant,
        client_id="gatehouse",
        now=timezone.now(),
    )
    headers = {"kid": "bench-kid", "typ": "at+jwt"}

    def bare():
        return jwt.encode(claims, key, algorithm="ES256", headers=headers)

    ours_rate, bare_rate = _rates(ours, bare, seconds)
    if affinity:
        os.sched_setaffinity(0, affinity)
    return [
        {
            "measure": "ES256 signing (claims + sign), one core",
            "value": round(ours_rate),
            "unit": "tokens/s",
            "target": f">= {TARGET_SIGN:,}/s",
            "met": ours_rate >= TARGET_SIGN,
            "ratio": f"{ours_rate / bare_rate:.2f}x bare PyJWT encode",
            "note": f"PyJWT {jwt.__version__}, {len(ours())}-char token, P-256",
        },
        {
            "measure": "bare PyJWT encode of the same claims (baseline)",
            "value": round(bare_rate),
            "unit": "tokens/s",
            "target": "",
            "met": None,
            "ratio": "",
            "note": "jwt.encode(claims, key, 'ES256', headers)",
        },
    ]


# --- main -------------------------------------------------------------------------------------


def _row(name: str, users: dict, saturated: dict, base: dict | None, target: bool) -> list[dict]:
    ratio = f"{users['p95'] / base['users']['p95']:.1f}x healthz" if base else "1.0x"
    return [
        {
            "measure": f"{name}: 20 users, think {THINK} s, p95",
            "value": round(users["p95"], 2),
            "unit": "ms",
            "target": f"< {TARGET_MS} ms, 0 errors" if target else "",
            "met": (users["p95"] < TARGET_MS and users["errors"] == 0) if target else None,
            "ratio": ratio,
            "note": (
                f"p50 {users['p50']:.1f} ms, p99 {users['p99']:.1f} ms, {users['n']} requests, "
                f"{users['errors']} errors; server CPU {users['web_ms']:.1f} ms/req web + "
                f"{users['db_ms']:.1f} ms/req db; load generator {users['load_cpu']:.0%} of a "
                f"core; other processes {users['others']:.1f} of 2 cores"
            ),
        },
        {
            "measure": f"{name}: saturation, 20 clients no think, throughput",
            "value": round(saturated["rate"]),
            "unit": "req/s",
            "target": "",
            "met": None,
            "ratio": (
                f"{saturated['rate'] / base['saturated']['rate']:.2f}x healthz" if base else "1.0x"
            ),
            "note": (
                f"p95 {saturated['p95']:.1f} ms, p50 {saturated['p50']:.1f} ms, "
                f"{saturated['errors']} errors; server CPU {saturated['web_ms']:.1f} + "
                f"{saturated['db_ms']:.1f} ms/req"
            ),
        },
    ]


def main() -> None:
    from tests.harness.jwks_server import LoopbackIssuer
    from tests.harness.ports import free_port, wait_for_port

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui.settings")
    with LoopbackIssuer() as loop, tempfile.TemporaryDirectory() as tmp:
        secrets = Path(tmp) / "idpsecrets.json"
        secrets.write_text(
            json.dumps({"bench": {"issuer": loop.issuer, "client_id": "b", "client_secret": "b"}})
        )
        os.environ.update(
            GATEHOUSE_IDPSECRETS=str(secrets),
            SITE_URL=SITE_URL,
            GATEHOUSE_ISSUER_AUDIENCE=AUDIENCE,
            GATEHOUSE_ISSUER_RATE_ACCOUNT="100000000",
        )
        form = _world(loop)
        rows = _signing_rows(seconds=6.0)
        port = free_port()
        env = {**os.environ, "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "webui.wsgi", "--bind", f"127.0.0.1:{port}"]
            + [*GUNICORN, "--keep-alive", "30", "--log-level", "warning"],
            cwd=REPO,
            env=env,
        )
        context = multiprocessing.get_context("spawn")
        try:
            wait_for_port(port, proc=server, what="gunicorn")
            cpu = ServerCpu(server.pid)
            base = None
            with context.Pool(1) as pool:
                for name, request, target in (
                    ("healthz (baseline)", _get("/healthz"), False),
                    (
                        "token endpoint: exchange + policy + signing",
                        _post("/oauth/token", form),
                        True,
                    ),
                ):
                    _measure(pool, cpu, port, request, seconds=3, think=0)  # warm up, fetch keys
                    users = _measure(pool, cpu, port, request, seconds=SECONDS, think=THINK)
                    saturated = _measure(pool, cpu, port, request, seconds=SECONDS / 2, think=0)
                    rows += _row(name, users, saturated, base, target)
                    base = base or {"users": users, "saturated": saturated}
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(json.dumps({"benchmark": "issuer", "rows": rows}))


if __name__ == "__main__":
    main()
