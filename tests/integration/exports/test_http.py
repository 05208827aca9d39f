"""GET /exports/<format>: only node tokens get in; ETag and 304; the body is streamed."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import Membership, NodeToken
from campaigns.services import node_token_create, node_token_revoke
from tests.integration.exports.golden import GOLDEN


def fetch(client, format_name="group", *, secret=None, **headers):
    if secret is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client.get(f"/exports/{format_name}", **headers)


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_no_token_is_refused(client, export_data):
    response = fetch(client)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="gatehouse-exports"'
    assert "Authorization: Bearer" in response.content.decode()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ghn_not-a-real-token", "Bearer " + "x" * 5000, "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_bad_token_is_refused(client, export_data, node_secret, authorization):
    response = client.get("/exports/group", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert "group" not in response.content.decode()


def test_revoked_token_is_refused(client, export_data, node_secret):
    node_token_revoke(node_token=NodeToken.objects.get(name="dcache-door-1"))
    response = fetch(client, secret=node_secret)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_logged_in_admin_without_a_node_token_is_refused(client, export_data, admin):
    client.force_login(admin)
    assert fetch(client).status_code == 401


@pytest.mark.parametrize(
    ("format_name", "golden"),
    [
        ("multimap-ids", "multimap-ids.txt"),
        ("multimap-campaigns", "multimap-campaigns.txt"),
        ("group", "group.txt"),
        ("passwd", "passwd.txt"),
        ("ldif", "export.ldif"),
    ],
)
def test_good_token_gets_the_streamed_export(client, export_data, node_secret, format_name, golden):
    response = fetch(client, format_name, secret=node_secret)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert response["ETag"].startswith('"')
    assert body(response) == (GOLDEN / golden).read_text()


def test_unknown_format_is_not_found(client, export_data, node_secret):
    assert fetch(client, "shadow", secret=node_secret).status_code == 404


def test_only_get_and_head(client, export_data, node_secret):
    response = client.post("/exports/group", HTTP_AUTHORIZATION=f"Bearer {node_secret}")
    assert response.status_code == 405
    head = client.head("/exports/group", HTTP_AUTHORIZATION=f"Bearer {node_secret}")
    assert head.status_code == 200 and head["ETag"] and head.content == b""


def test_matching_etag_gets_304(client, export_data, node_secret, django_assert_max_num_queries):
    etag = fetch(client, secret=node_secret)["ETag"]
    with django_assert_max_num_queries(2):  # the token, and the data version (not cached here)
        response = fetch(client, secret=node_secret, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""
    assert fetch(client, secret=node_secret, HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert fetch(client, secret=node_secret, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_etags_differ_between_formats(client, export_data, node_secret):
    etags = {fetch(client, f, secret=node_secret)["ETag"] for f in ["group", "passwd", "ldif"]}
    assert len(etags) == 3


def test_etag_changes_after_a_membership_change(client, export_data, node_secret):
    etag = fetch(client, secret=node_secret)["ETag"]
    membership = export_data.membership(export_data.boneil, export_data.camp_a)
    membership.state = Membership.State.REVOKED
    membership.save()
    response = fetch(client, secret=node_secret, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag
    assert "boneil" not in body(response).splitlines()[0]


def test_etag_changes_when_an_identity_is_deleted(client, export_data, node_secret):
    etag = fetch(client, "multimap-ids", secret=node_secret)["ETag"]
    export_data.jdoe.identities.filter(type="X509").delete()
    assert fetch(client, "multimap-ids", secret=node_secret)["ETag"] != etag


def test_etag_changes_with_the_day(client, export_data, node_secret, monkeypatch):
    etag = fetch(client, secret=node_secret)["ETag"]
    tomorrow = timezone.localdate() + timedelta(days=1)
    monkeypatch.setattr("campaigns.exports.fingerprint.timezone.localdate", lambda: tomorrow)
    assert fetch(client, secret=node_secret)["ETag"] != etag


def test_cached_data_version_makes_the_304_path_one_query(
    client, export_data, node_secret, settings, django_assert_num_queries
):
    settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = 30
    cache.clear()
    etag = fetch(client, secret=node_secret)["ETag"]
    with django_assert_num_queries(1):  # the token lookup only
        assert fetch(client, secret=node_secret, HTTP_IF_NONE_MATCH=etag).status_code == 304
    cache.clear()


def test_last_use_is_recorded_at_most_once_a_minute(client, export_data, node_secret):
    node_token = NodeToken.objects.get(name="dcache-door-1")
    assert node_token.last_used_at is None
    fetch(client, secret=node_secret)
    node_token.refresh_from_db()
    first = node_token.last_used_at
    assert first is not None
    assert node_token.last_used_ip == "127.0.0.1"

    fetch(client, secret=node_secret, REMOTE_ADDR="192.0.2.7")
    node_token.refresh_from_db()
    assert (node_token.last_used_at, node_token.last_used_ip) == (first, "127.0.0.1")

    NodeToken.objects.filter(pk=node_token.pk).update(last_used_at=first - timedelta(minutes=2))
    fetch(client, secret=node_secret, REMOTE_ADDR="192.0.2.7")
    node_token.refresh_from_db()
    assert node_token.last_used_at > first
    assert node_token.last_used_ip == "192.0.2.7"


def test_each_node_has_its_own_token(client, export_data, node_secret):
    _, other = node_token_create(name="webdav-1")
    assert fetch(client, secret=other).status_code == 200
    node_token_revoke(node_token=NodeToken.objects.get(name="webdav-1"))
    assert fetch(client, secret=other).status_code == 401
    assert fetch(client, secret=node_secret).status_code == 200


def test_misconfiguration_is_a_503_with_a_reason(client, export_data, node_secret, settings):
    settings.GATEHOUSE_EXPORT_SHELL = "nologin"
    response = fetch(client, "passwd", secret=node_secret)
    assert response.status_code == 503
    assert "GATEHOUSE_EXPORT_SHELL" in response.content.decode()


def test_last_use_names_the_node_behind_a_trusted_proxy(client, export_data, node_secret, settings):
    settings.GATEHOUSE_TRUSTED_PROXIES = ["10.0.0.2"]
    fetch(client, secret=node_secret, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.8")
    assert NodeToken.objects.get(name="dcache-door-1").last_used_ip == "192.0.2.8"
    NodeToken.objects.update(last_used_at=None)
    fetch(client, secret=node_secret, REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert NodeToken.objects.get(name="dcache-door-1").last_used_ip == "192.0.2.9"
