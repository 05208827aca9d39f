"""Issue 11 case 4: a top-level GET to /oidc/callback/ with no or an unknown state (a link or an
image on any site) must not end the visitor's session, and many such requests from one address
are rate-limited and aggregated in the audit log instead of one row each."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent

CALLBACK = "/oidc/callback/"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()  # the counters per address live in the cache
    yield
    cache.clear()


@pytest.fixture
def signed_in(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{}, {"state": "forged"}, {"state": "x", "code": "y"}])
def test_a_stray_callback_leaves_the_session_alone(signed_in, member, query):
    response = signed_in.get(CALLBACK, query)
    assert response.status_code == 400
    assert b"Start the login again" in response.content
    assert signed_in.session[SESSION_KEY] == str(member.pk)
    assert signed_in.get(reverse("account")).status_code == 200  # still logged in
    event = AuditEvent.objects.get(action="login.refused")
    assert event.detail["reason"] == "state_unknown" and event.detail["count"] == 1


@pytest.mark.django_db
def test_repeated_stray_callbacks_are_aggregated_and_rate_limited(signed_in, member, settings):
    settings.GATEHOUSE_LOGIN_RATE = 3  # 30 stray callbacks per address and 10 minutes
    answers = [signed_in.get(CALLBACK, {"state": f"s{i}"}).status_code for i in range(45)]
    assert answers[:30] == [400] * 30 and answers[30:] == [429] * 15
    counts = sorted(e.detail["count"] for e in AuditEvent.objects.filter(action="login.refused"))
    assert counts == [1, 10]  # not 45 rows
    assert signed_in.session[SESSION_KEY] == str(member.pk)
    # Another address is counted on its own.
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert other.get(CALLBACK).status_code == 400
