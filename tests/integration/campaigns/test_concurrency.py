"""GIDs stay unique when several processes create campaigns at the same moment."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import Campaign

REPO = Path(__file__).resolve().parents[3]
PROCESSES = 4
EACH = 5

# Each process waits for the same start instant, then creates its campaigns as fast as it can.
SNIPPET = """
import time
from accounts.models import Account
from campaigns.services import campaign_create
pi = Account.objects.get(name="pi")
while time.time() < {start}:
    time.sleep(0.001)
for i in range({each}):
    campaign_create(slug="p{proc}-c" + str(i), title="Race", pi=pi, actor=None)
"""


def database_url() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gids_are_distinct_under_concurrent_creation(pi):
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(REPO)}
    start = time.time() + 4  # time for every interpreter to load Django
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c"]
            + [SNIPPET.format(start=start, each=EACH, proc=proc)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for proc in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)[-3000:]
    gids = list(Campaign.objects.values_list("gid", flat=True))
    assert len(gids) == PROCESSES * EACH
    assert len(set(gids)) == len(gids)
    # Never reused and no gaps: the counter hands out one consecutive block.
    assert sorted(gids) == list(range(min(gids), min(gids) + len(gids)))
