"""accounts.sessions: a session row carries its account, and one read gives a request both.

The account read with the session is handed to the authentication backend for that session's
user id only, in that request only; Django's own checks (the session hash, an inactive account)
still decide who the request's user is.
"""

import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, Session
from accounts.services import account_sessions_end
from accounts.sessions import SessionStore, account_read_with_session

pytestmark = pytest.mark.django_db

PAGE = "campaigns:mine"  # a page for logged-in people only


def _logged_in(account: Account) -> Client:
    client = Client()
    client.force_login(account)
    return client


def _user_of(client: Client) -> str:
    response = client.get(reverse("home"))
    return response.wsgi_request.user.get_username() or "anonymous"


def test_a_session_row_names_its_account_and_forgets_it_on_logout(member, outsider):
    client = _logged_in(member)
    key = client.cookies["sessionid"].value
    assert Session.objects.get(pk=key).account_id == member.pk
    client.post(reverse("logout"))
    assert not Session.objects.filter(pk=key).exists()
    client.force_login(outsider)  # the next person at the same browser
    assert Session.objects.get(pk=client.cookies["sessionid"].value).account_id == outsider.pk


def test_a_logged_in_page_reads_session_and_account_in_one_statement(member):
    client = _logged_in(member)
    client.get(reverse(PAGE))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(PAGE))
    assert response.status_code == 200 and response.wsgi_request.user == member
    reads = [q["sql"] for q in captured.captured_queries]
    session_reads = [sql for sql in reads if 'FROM "accounts_session"' in sql]
    assert len(session_reads) == 1 and 'JOIN "accounts_account"' in session_reads[0]
    account_only = [
        sql
        for sql in reads
        if sql.startswith('SELECT "accounts_account"."id"') and "accounts_session" not in sql
    ]
    assert account_only == []  # the backend took the account read with the session


def test_the_account_goes_to_its_own_session_only(member, outsider, requester):
    """Requests one after the other in one thread: each gets the user of its own session, an
    anonymous request gets nobody, and a new request forgets the last one's account."""
    clients = {account.name: _logged_in(account) for account in (member, outsider, requester)}
    for name in ["member", "outsider", "member", "requester", "outsider"]:
        assert _user_of(clients[name]) == name
        assert _user_of(Client()) == "anonymous"
    # A session naming an account that was read with another session: never handed over.
    clients["member"].get(reverse("home"))
    assert account_read_with_session(outsider.pk) == (False, None)


def test_requests_in_other_threads_do_not_see_this_ones_account(member, outsider):
    client = _logged_in(member)
    client.get(reverse("home"))
    assert account_read_with_session(member.pk)[0]
    seen = []
    thread = threading.Thread(target=lambda: seen.append(account_read_with_session(member.pk)))
    thread.start()
    thread.join()
    assert seen == [(False, None)]


def test_a_suspended_or_changed_password_account_is_anonymous(member, admin):
    client = _logged_in(member)
    assert _user_of(client) == "member"
    Account.objects.filter(pk=member.pk).update(status=Account.Status.SUSPENDED)
    assert _user_of(client) == "anonymous"  # read with the session, refused as inactive
    admin_client = Client()
    admin_client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    assert _user_of(admin_client) == admin.name
    admin.set_password("a new password")
    admin.save()
    assert _user_of(admin_client) == "anonymous"  # the session hash no longer matches


def test_a_session_whose_account_is_gone_is_anonymous(member):
    client = _logged_in(member)
    key = client.cookies["sessionid"].value
    Session.objects.filter(pk=key).update(account_id=10**12)  # names no account
    store = SessionStore(key)
    assert store[SESSION_KEY] == str(member.pk)
    assert _user_of(client) == "member"  # the id in the session decides: read the usual way


def test_ending_an_accounts_sessions_leaves_the_others(member, outsider):
    mine, other = _logged_in(member), _logged_in(outsider)
    also_mine = _logged_in(member)
    assert account_sessions_end(account_ids=[member.pk]) == 2
    assert _user_of(mine) == _user_of(also_mine) == "anonymous"
    assert _user_of(other) == "outsider"


def test_a_session_whose_account_was_deleted_is_anonymous(member):
    client = _logged_in(member)
    key = client.cookies["sessionid"].value
    Account.objects.filter(pk=member.pk).delete()
    assert Session.objects.get(pk=key).account_id == member.pk  # the row stays, no constraint
    assert _user_of(client) == "anonymous"
    assert account_read_with_session(member.pk) == (True, None)  # read: no such account
