"""Seed a large Gatehouse database fast, with PostgreSQL COPY.

At scale 1.0: 100k accounts, 200k identities (one OIDC, one X.509 each), 5k campaigns, 500k
memberships, 1M tokens. `python -m bench.seed --scale 0.1` seeds a tenth. The database named by
DATABASE_URL must be migrated and empty (bench/run.py makes a fresh one).
"""

import argparse
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta

FULL = {
    "accounts": 100_000,
    "identities": 200_000,
    "campaigns": 5_000,
    "memberships": 500_000,
    "tokens": 1_000_000,
}
ISSUER = "http://127.0.0.1:9400/"


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(*, scale: float = 1.0, seed_value: int = 42, expired_tokens: bool = True) -> dict:
    """Fill the database; returns the row counts and how long it took."""
    from django.conf import settings
    from django.db import connection

    from accounts import crypto
    from accounts.models import Account, Identity, PosixIdCounter
    from campaigns.models import Campaign, Membership
    from tokens.models import Token

    rng = random.Random(seed_value)
    n = {key: max(1, int(value * scale)) for key, value in FULL.items()}
    now = datetime.now(UTC)
    started = time.perf_counter()
    uid0, gid0 = settings.GATEHOUSE_UID_MIN, settings.GATEHOUSE_GID_MIN
    # One ciphertext for all tokens: cleanup and listing never decrypt them, and encrypting a
    # million values would measure Fernet, not the database.
    ciphertext = crypto.encrypt("bench-token")
    counts = {}
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg 3 cursor, for COPY
        counts["accounts"] = _copy(
            cursor,
            Account._meta.db_table,
            ["id", "password", "is_superuser", "name", "type", "status", "status_reason"]
            + ["email", "display_name", "uid", "is_staff", "created", "updated", "token_subject"],
            (
                (i, "!", False, f"user{i:06d}", "USER", "ACTIVE" if i % 50 else "SUSPENDED", "")
                + (f"user{i:06d}@example.org", f"User Nummer {i}", uid0 + i, False, now, now)
                + (uuid.UUID(int=rng.getrandbits(128), version=4),)
                for i in range(1, n["accounts"] + 1)
            ),
        )

        def identities():
            for i in range(1, n["identities"] + 1):
                account = (i - 1) % n["accounts"] + 1
                if i <= n["accounts"]:
                    yield (i, "OIDC", f"SUB=sub-{account:06d}, ISS={ISSUER}", account, "login")
                else:
                    dn = f"/C=DE/O=GermanGrid/OU=Bench/CN=User Nummer {account} {i}"
                    yield (i, "X509", dn, account, "manual")

        counts["identities"] = _copy(
            cursor,
            Identity._meta.db_table,
            [
                "id",
                "type",
                "identity",
                "account_id",
                "source",
                "email",
                "idp",
                "created",
                "updated",
            ],
            (row + ("", "dev", now, now) for row in identities()),
        )
        today = date.today()
        counts["campaigns"] = _copy(
            cursor,
            Campaign._meta.db_table,
            ["id", "slug", "title", "description", "pi_id", "gid", "embargo_until"]
            + ["data_paths", "status", "created", "updated"],
            (
                (i, f"camp-{i:05d}", f"Campaign {i}", "Observations for the benchmark.")
                + (rng.randint(1, n["accounts"]), gid0 + i)
                + (today + timedelta(days=rng.randint(-400, 400)) if i % 3 else None,)
                + (f'["/data/camp-{i:05d}"]', "active", now, now)
                for i in range(1, n["campaigns"] + 1)
            ),
        )

        per_account = max(1, n["memberships"] // n["accounts"])
        states = ["approved"] * 8 + ["requested", "rejected"]

        def memberships():
            row_id = 0
            for account in range(1, n["accounts"] + 1):
                for campaign in rng.sample(range(1, n["campaigns"] + 1), per_account):
                    row_id += 1
                    if row_id > n["memberships"]:
                        return
                    state = rng.choice(states)
                    valid = today + timedelta(days=rng.randint(-30, 700)) if row_id % 4 else None
                    yield (row_id, account, campaign, "member", state, "portal", "", valid)

        counts["memberships"] = _copy(
            cursor,
            Membership._meta.db_table,
            ["id", "account_id", "campaign_id", "role", "state", "source", "request_message"]
            + ["valid_until", "comment", "created", "updated"],
            (row + ("", now, now) for row in memberships()),
        )

        def tokens():
            for i in range(1, n["tokens"] + 1):
                account = (i - 1) % n["accounts"] + 1
                expired = expired_tokens and i % 10 != 0
                expires = now - timedelta(hours=2) if expired else now + timedelta(hours=1)
                yield (i, account, f"{i:064x}", ciphertext, "openid profile", "rucio", expires)

        counts["tokens"] = _copy(
            cursor,
            Token._meta.db_table,
            ["id", "account_id", "token_hash", "token", "scope", "audience", "expires_at"]
            + [
                "id_token",
                "refresh_token",
                "refresh",
                "refresh_error",
                "idp",
                "created",
                "updated",
            ],
            (row + ("", "", False, "", "dev", now, now) for row in tokens()),
        )
        for model in (Account, Identity, Campaign, Membership, Token):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        PosixIdCounter.objects.update_or_create(
            kind="uid", defaults={"next_value": uid0 + n["accounts"] + 1}
        )
        PosixIdCounter.objects.update_or_create(
            kind="gid", defaults={"next_value": gid0 + n["campaigns"] + 1}
        )
        # What autovacuum does within a minute of a bulk load, done now so that every run
        # starts alike: statistics, and visibility maps for index-only scans.
        cursor.execute("VACUUM (ANALYZE)")
    return {"counts": counts, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    import django

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    django.setup()
    print(seed(scale=args.scale))


if __name__ == "__main__":
    main()
