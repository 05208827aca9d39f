"""Token refresh against the dev IdP, and clean-up with concurrent workers, on PostgreSQL."""

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts import crypto, idps
from accounts.models import AuditEvent, Session
from accounts.services import account_create
from accounts.sessions import SessionStore
from tests.harness.idp import start_idp
from tests.integration.test_devidp import USERS, WEB, sign_in
from tokens.models import Token
from tokens.services import tokens_cleanup, tokens_refresh
from tokens.tasks import tokens_cleanup_expired

pytestmark = pytest.mark.django_db
SOON = timedelta(minutes=6)


@pytest.fixture(scope="module")
def plain_idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp-refresh"), clients=[WEB], users=USERS
    ) as running:
        yield running


@pytest.fixture(scope="module")
def rotating_idp(tmp_path_factory):
    with start_idp(
        workdir=tmp_path_factory.mktemp("devidp-rotate"),
        clients=[WEB],
        users=USERS,
        rotate_refresh_token=True,
    ) as running:
        yield running


def configure(settings, tmp_path, **issuers) -> None:
    path = tmp_path / "idpsecrets.json"
    path.write_text(
        json.dumps(
            {
                nick: {
                    "issuer": issuer,
                    "client_id": WEB["client_id"],
                    "client_secret": WEB["client_secret"],
                    "redirect_uris": WEB["redirect_uris"],
                    "SCIM": {},
                }
                for nick, issuer in issuers.items()
            }
        )
    )
    settings.GATEHOUSE_IDPSECRETS = str(path)
    idps._load.cache_clear()
    cache.clear()


def held_token(idp, nick: str, *, expires_in: timedelta = timedelta(minutes=2), **extra) -> Token:
    """A login's tokens as the portal stores them, about to expire."""
    body, _, _ = sign_in(idp)
    account = account_create(name=f"alice-{nick}"[:25], email="alice@example.org")
    now = timezone.now()
    return Token.objects.create(
        account=account,
        idp=nick,
        token_hash=crypto.token_hash(body["access_token"]),
        token=body["access_token"],
        scope=body["scope"],
        expires_at=now + expires_in,
        refresh_token=body["refresh_token"],
        refresh=True,
        refresh_start=now,
        refresh_lifetime=timedelta(days=4),
        **extra,
    )


@pytest.mark.sqlite
def test_refresh_makes_a_new_token_and_keeps_refresh_start(plain_idp, settings, tmp_path):
    configure(settings, tmp_path, dev=plain_idp.issuer)
    old = held_token(plain_idp, "dev")
    report = tokens_refresh(within=SOON)
    assert report.refreshed == 1, report
    old.refresh_from_db()
    assert old.refresh is False and old.refresh_token == ""
    new = Token.objects.exclude(pk=old.pk).get()
    assert new.token != old.token and new.token_hash == crypto.token_hash(new.token)
    assert new.refresh and new.refresh_token and new.refresh_start == old.refresh_start
    assert new.refresh_lifetime == old.refresh_lifetime
    assert new.expires_at > timezone.now() + SOON
    # The new access token is a real one: the provider's userinfo accepts it.
    userinfo = plain_idp.discovery()["userinfo_endpoint"]
    me = requests.get(userinfo, headers={"Authorization": f"Bearer {new.token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["sub"] == USERS[0]["sub"]
    assert AuditEvent.objects.filter(action="token.refresh", account=new.account).exists()
    assert tokens_refresh(within=SOON).refreshed == 0  # nothing is due any more


def test_rotated_refresh_token_replaces_the_old_one(rotating_idp, settings, tmp_path):
    configure(settings, tmp_path, rot=rotating_idp.issuer)
    old = held_token(rotating_idp, "rot")
    first_refresh_token = old.refresh_token
    assert tokens_refresh(within=SOON).refreshed == 1
    new = Token.objects.exclude(pk=old.pk).get()
    assert new.refresh_token and new.refresh_token != first_refresh_token
    assert AuditEvent.objects.get(action="token.refresh").detail["rotated"] is True
    # Due again: the rotated token works, so the grant is still alive.
    Token.objects.filter(pk=new.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    assert tokens_refresh(within=SOON).refreshed == 1


def test_a_revoked_refresh_token_stops_refreshing_and_is_audited(plain_idp, settings, tmp_path):
    configure(settings, tmp_path, dev=plain_idp.issuer)
    token = held_token(plain_idp, "dev")
    revoked = requests.post(
        plain_idp.discovery()["revocation_endpoint"],
        data={"token": token.refresh_token, "token_type_hint": "refresh_token"},
        auth=(WEB["client_id"], WEB["client_secret"]),
        timeout=10,
    )
    assert revoked.status_code == 200
    report = tokens_refresh(within=SOON)
    assert (report.refreshed, report.refused) == (0, 1)
    token.refresh_from_db()
    assert token.refresh is False and token.refresh_token == ""
    assert "log in again" in token.refresh_error
    assert AuditEvent.objects.filter(action="token.refresh.refused", account=token.account)
    assert Token.objects.count() == 1


def test_an_unreachable_provider_is_tried_next_cycle(plain_idp, settings, tmp_path):
    configure(settings, tmp_path, dev=plain_idp.issuer)
    token = held_token(plain_idp, "dev", expires_in=timedelta(seconds=-30))
    configure(settings, tmp_path, dev="http://127.0.0.1:9/")  # nothing listens there
    report = tokens_refresh(within=SOON)
    assert (report.refreshed, report.unreachable) == (0, 1)
    token.refresh_from_db()
    assert token.refresh and token.refresh_token  # kept for the next cycle
    assert tokens_cleanup().tokens == 0  # an expired token with a live refresh token stays


@pytest.mark.sqlite
def test_refreshing_stops_after_the_refresh_lifetime(plain_idp, settings, tmp_path):
    configure(settings, tmp_path, dev=plain_idp.issuer)
    token = held_token(plain_idp, "dev")
    Token.objects.filter(pk=token.pk).update(refresh_start=timezone.now() - timedelta(days=5))
    report = tokens_refresh(within=SOON)
    assert (report.refreshed, report.stopped) == (0, 1)
    token.refresh_from_db()
    assert token.refresh is False and "lifetime" in token.refresh_error


def _token(account, n: int, *, expires, refresh_token="", refresh_expires=None) -> Token:
    return Token(
        account=account,
        idp="dev",
        token_hash=crypto.token_hash(f"t{n}"),
        token=f"t{n}",
        expires_at=expires,
        refresh_token=refresh_token,
        refresh_expires_at=refresh_expires,
    )


@pytest.mark.sqlite
def test_cleanup_deletes_only_what_has_expired_for_good(member):
    now = timezone.now()
    past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    rows = {
        "expired, no refresh token": _token(member, 1, expires=past),
        "expired, refresh token expired": _token(
            member, 2, expires=past, refresh_token="r", refresh_expires=past
        ),
        "expired, refresh token alive": _token(
            member, 3, expires=past, refresh_token="r", refresh_expires=future
        ),
        "expired, refresh token without expiry": _token(member, 4, expires=past, refresh_token="r"),
        "alive": _token(member, 5, expires=future),
    }
    Token.objects.bulk_create(rows.values())
    old_session = SessionStore()
    old_session["x"] = 1
    old_session.create()
    Session.objects.filter(pk=old_session.session_key).update(expire_date=past)
    assert tokens_cleanup(dry_run=True).as_dict() == {"tokens": 2, "sessions": 1, "batches": 0}
    assert Token.objects.count() == 5
    report = tokens_cleanup(batch=1)
    assert (report.tokens, report.sessions) == (2, 1)
    assert set(Token.objects.values_list("token_hash", flat=True)) == {
        crypto.token_hash(f"t{n}") for n in (3, 4, 5)
    }
    assert not Session.objects.filter(pk=old_session.session_key).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_cleaning_at_once_delete_each_row_once(member):
    past = timezone.now() - timedelta(hours=1)
    Token.objects.bulk_create(_token(member, n, expires=past) for n in range(6000))
    counts, errors = [], []

    def worker() -> None:
        try:
            counts.append(tokens_cleanup(batch=200).tokens)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(counts) == 6000 and Token.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_login_is_not_blocked_while_cleaning(member):
    past = timezone.now() - timedelta(hours=1)
    Token.objects.bulk_create(_token(member, n, expires=past) for n in range(20000))
    done = threading.Event()

    def clean() -> None:
        try:
            tokens_cleanup(batch=1000)
        finally:
            connection.close()
            done.set()

    cleaner = threading.Thread(target=clean)
    cleaner.start()
    inserts = 0
    while not done.is_set():
        Token.objects.create(
            account=member,
            idp="dev",
            token_hash=crypto.token_hash(f"login-{inserts}"),
            token="fresh",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        inserts += 1
        time.sleep(0.005)
    cleaner.join()
    # Fresh tokens went in while the clean-up ran, and none of them was deleted.
    assert Token.objects.count() == inserts


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_cleanup_task_runs_on_the_worker(celery_worker, member):
    past = timezone.now() - timedelta(hours=1)
    Token.objects.bulk_create(_token(member, n, expires=past) for n in range(50))
    tokens_cleanup_expired.delay()
    deadline = time.monotonic() + 60
    while Token.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Token.objects.exists()


@pytest.mark.sqlite
def test_cleanup_command(member, capsys):
    Token.objects.bulk_create([_token(member, 1, expires=timezone.now() - timedelta(hours=1))])
    call_command("cleanup_tokens", "--dry-run")
    assert "Would delete 1 expired tokens" in capsys.readouterr().out
    call_command("cleanup_tokens")
    assert "Deleted 1 expired tokens" in capsys.readouterr().out
    assert not Token.objects.exists()


def test_beat_schedules_refresh_and_cleanup_every_5_minutes(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["token-cleanup"]["schedule"] == schedule["token-refresh"]["schedule"] == 300
