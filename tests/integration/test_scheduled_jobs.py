"""A scheduled job runs once per interval of the wall clock, however many beats send it."""

import datetime
from datetime import timedelta

import pytest

from accounts import jobs
from accounts.models import ScheduledJob

pytestmark = pytest.mark.django_db
EVERY = timedelta(minutes=5)
SLOT_START = datetime.datetime(2026, 11, 30, 4, 0, tzinfo=datetime.UTC)  # a multiple of 5 min


def claim_at(monkeypatch, moment: datetime.datetime) -> bool:
    # The clock is the only thing replaced: the claim itself is a real UPDATE on PostgreSQL.
    monkeypatch.setattr(jobs.timezone, "now", lambda: moment)
    return jobs.scheduled_run_claim(job="token-cleanup", every=EVERY)


def test_two_beats_in_one_interval_run_the_job_once_whatever_their_phase(monkeypatch):
    # beat A early in the interval, beat B late in it (more than half an interval apart)
    assert claim_at(monkeypatch, SLOT_START + timedelta(seconds=10))
    assert not claim_at(monkeypatch, SLOT_START + timedelta(minutes=4, seconds=50))
    # the next interval: A runs it again, B's send in the same interval is skipped
    assert claim_at(monkeypatch, SLOT_START + timedelta(minutes=5, seconds=10))
    assert not claim_at(monkeypatch, SLOT_START + timedelta(minutes=9, seconds=50))
    job = ScheduledJob.objects.get(name="token-cleanup")
    assert (job.runs, job.skipped) == (2, 2)


def test_a_late_send_of_an_earlier_interval_never_runs_twice(monkeypatch):
    assert claim_at(monkeypatch, SLOT_START + timedelta(minutes=7))
    assert not claim_at(monkeypatch, SLOT_START + timedelta(minutes=3))  # clock skew, late queue
