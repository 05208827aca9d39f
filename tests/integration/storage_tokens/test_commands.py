"""manage.py issuer_key, storage_element and oauth_client."""

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditEvent
from tokens.issuer.keys import jwks_document
from tokens.models import IssuerKey, OAuthClient, StorageElement

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def publish_next_keys_long_ago() -> None:
    """Stands in for waiting GATEHOUSE_ISSUER_KEY_CACHE seconds after the next key appeared."""
    IssuerKey.objects.filter(state="next").update(
        created=timezone.now() - timedelta(seconds=settings.GATEHOUSE_ISSUER_KEY_CACHE + 1)
    )


def test_issuer_key_create_rotate_retire_list():
    out = run("issuer_key", "create")
    assert "active" in out and "next key, published now" in out
    first = IssuerKey.objects.get(state="active")
    assert IssuerKey.objects.filter(state="next").count() == 1  # published from the start
    assert {k["kid"] for k in jwks_document()["keys"]} == set(
        IssuerKey.objects.values_list("kid", flat=True)
    )
    IssuerKey.objects.filter(state="next").delete()
    assert "next" in run("issuer_key", "create", "--alg", "RS256")
    publish_next_keys_long_ago()
    run("issuer_key", "rotate")
    first.refresh_from_db()
    assert first.state == "retired"
    active = IssuerKey.objects.get(state="active")
    assert active.alg == "RS256"  # the waiting key was promoted
    assert IssuerKey.objects.filter(state="next", alg="RS256").count() == 1  # made at once
    listing = run("issuer_key", "list")
    assert first.kid in listing and active.kid in listing
    run("issuer_key", "retire", first.kid, "--now")
    assert first.kid not in {k["kid"] for k in jwks_document()["keys"]}
    with pytest.raises(CommandError, match="rotate"):
        run("issuer_key", "retire", active.kid)
    with pytest.raises(CommandError, match="no issuer key"):
        run("issuer_key", "retire", "nope")
    assert AuditEvent.objects.filter(action="issuer_key.rotate").count() == 1


def test_issuer_key_rotate_refuses_a_next_key_storage_may_not_have_cached(settings):
    settings.GATEHOUSE_ISSUER_KEY_CACHE = 6 * 3600
    run("issuer_key", "create")
    active = IssuerKey.objects.get(state="active")
    waiting = IssuerKey.objects.get(state="next")
    safe = waiting.created + timedelta(hours=6)
    with pytest.raises(CommandError) as refused:
        run("issuer_key", "rotate")
    message = str(refused.value)
    assert f"rotate at or after {safe:%Y-%m-%d %H:%M} UTC" in message
    assert "360 minutes" in message and "--force" in message
    active.refresh_from_db()
    waiting.refresh_from_db()
    assert (active.state, waiting.state) == ("active", "next")
    assert not AuditEvent.objects.filter(action="issuer_key.rotate").exists()

    IssuerKey.objects.filter(pk=waiting.pk).update(
        created=timezone.now() - timedelta(hours=6, seconds=-30)
    )
    with pytest.raises(CommandError, match=r"\(in 1 minutes\)"):
        run("issuer_key", "rotate")


def test_issuer_key_rotate_force_activates_at_once_and_says_what_breaks():
    run("issuer_key", "create")
    waiting = IssuerKey.objects.get(state="next")
    out, err = StringIO(), StringIO()
    call_command("issuer_key", "rotate", "--force", stdout=out, stderr=err)
    waiting.refresh_from_db()
    assert waiting.state == "active"
    assert IssuerKey.objects.filter(state="next").count() == 1
    assert "refuses its tokens" in err.getvalue() and "retire" in err.getvalue()
    assert AuditEvent.objects.get(action="issuer_key.rotate").detail["forced"] is True


def test_issuer_key_rotate_without_a_next_key_says_to_create_one():
    run("issuer_key", "create")
    IssuerKey.objects.filter(state="next").delete()
    with pytest.raises(CommandError, match="run `issuer_key create`"):
        run("issuer_key", "rotate")


def test_storage_element_add_list_disable():
    out = run(
        "storage_element",
        "add",
        "dcache",
        "--audience",
        "https://dcache.example.org",
        "--base-path",
        "/pnfs/example.org/data",
        "--lifetime-minutes",
        "30",
    )
    assert "dcache added" in out
    element = StorageElement.objects.get(name="dcache")
    assert element.max_lifetime.total_seconds() == 1800 and element.enabled
    assert "/pnfs/example.org/data" in run("storage_element", "list")
    run("storage_element", "disable", "dcache")
    assert not StorageElement.objects.get(name="dcache").enabled
    with pytest.raises(CommandError):
        run("storage_element", "add", "x", "--audience", "a", "--lifetime-minutes", "400")
    with pytest.raises(CommandError):
        run("storage_element", "add", "y", "--audience", "a", "--base-path", "/a/../b")
    with pytest.raises(CommandError, match="no storage element"):
        run("storage_element", "disable", "nope")


def test_oauth_client_add_prints_the_secret_once_and_keeps_its_hash(member):
    out = run(
        "oauth_client",
        "add",
        "rucio",
        "--grant",
        "exchange",
        "--storage-element",
        "dcache",
        "--path-prefix",
        "/nightsky",
        "--act-for-users",
    )
    secret = out.strip()
    client = OAuthClient.objects.get(client_id="rucio")
    assert len(secret) >= 40 and secret not in client.secret_hash
    assert client.may_act_for_users and client.grants == [OAuthClient.Grant.TOKEN_EXCHANGE]
    assert "rucio" in run("oauth_client", "list")
    assert run("oauth_client", "reset-secret", "rucio").strip() != secret
    run("oauth_client", "disable", "rucio")
    assert not OAuthClient.objects.get(client_id="rucio").enabled


def test_check_storage_paths_reports_overlaps_and_string_prefixes(pi):
    from campaigns.models import Campaign

    for gid, (slug, path) in enumerate(
        [("c4", "/data/c4"), ("c42", "/data/c42"), ("inner", "/data/c4/inner"), ("d", "/data/d")]
    ):
        Campaign.objects.create(slug=slug, title=slug, pi=pi, gid=90000 + gid, data_paths=[path])
    out = StringIO()
    with pytest.raises(CommandError, match="2 conflicting"):
        call_command("check_storage_paths", stdout=out)
    text = out.getvalue()
    assert "c4 /data/c4 and c42 /data/c42: string prefix" in text
    assert "c4 /data/c4 and inner /data/c4/inner: nested." in text
    assert "/data/d" not in text
    Campaign.objects.exclude(slug="d").delete()
    assert "No campaign data path" in run("check_storage_paths")
