"""Node tokens: the services (audited), manage.py node_token, and the admin pages."""

import io
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import AuditEvent
from campaigns.exports.selection import node_token_for_secret
from campaigns.models import NodeToken
from campaigns.services import node_token_create, node_token_revoke, node_token_rotate


def node_token_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("node_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_stores_only_the_hash_and_audits(db, admin):
    node_token, secret = node_token_create(name=" dcache-door-1 ", actor=admin, ip="192.0.2.1")
    assert node_token.name == "dcache-door-1"
    assert secret.startswith("ghn_") and len(secret) > 40
    assert node_token.token_hash == token_hash(secret)
    assert not NodeToken.objects.filter(token_hash__contains=secret).exists()
    event = AuditEvent.objects.get(action="node_token.create")
    assert (event.actor, event.target, event.ip) == (admin, "node_token:dcache-door-1", "192.0.2.1")
    assert secret not in str(event.detail) + event.comment + event.target


def test_a_name_is_held_by_one_active_token_and_free_again_after_revocation(db):
    node_token, _ = node_token_create(name="door")
    with pytest.raises(ValidationError, match="is active: choose another name, or rotate it"):
        node_token_create(name="door")
    node_token_revoke(node_token=node_token)
    again, secret = node_token_create(name="door")
    assert again.pk != node_token.pk and node_token_for_secret(token_hash(secret)) == again


def test_rotate_gives_a_new_secret_and_keeps_the_old_one_for_the_grace_period(db, admin):
    old, old_secret = node_token_create(name="door")
    new, new_secret = node_token_rotate(
        node_token=old, grace=timedelta(hours=24), actor=admin, ip="192.0.2.7"
    )
    assert new.name == "door" and new_secret != old_secret
    assert node_token_for_secret(token_hash(new_secret)) == new
    assert node_token_for_secret(token_hash(old_secret)) == old  # still in its grace period
    old.refresh_from_db()
    assert old.state() == "grace"
    assert old.state(now=old.revoked_at + timedelta(seconds=1)) == "revoked"
    event = AuditEvent.objects.get(action="node_token.rotate")
    assert (event.actor, event.detail["old"], event.detail["new"]) == (admin, old.pk, new.pk)
    with pytest.raises(ValidationError, match="not active"):
        node_token_rotate(node_token=old, grace=timedelta(0))
    # Past the grace period the old secret is refused; an early revoke ends it at once.
    NodeToken.objects.filter(pk=old.pk).update(revoked_at=timezone.now() - timedelta(seconds=1))
    assert node_token_for_secret(token_hash(old_secret)) is None
    newer, newer_secret = node_token_rotate(node_token=new, grace=timedelta(hours=1))
    node_token_revoke(node_token=new)
    assert node_token_for_secret(token_hash(newer_secret)) == newer
    assert node_token_for_secret(token_hash(new_secret)) is None


def test_command_rotate_prints_the_new_token_once_and_says_until_when(db):
    node_token_command("create", "door")
    out, err = node_token_command("rotate", "door", "--grace", "90m")
    secret = out.strip()
    assert node_token_for_secret(token_hash(secret)).name == "door"
    assert "The old token works until" in err and secret not in err
    listing, _ = node_token_command("list")
    assert re.search(r"door\s+active", listing) and "(rotated)" in listing
    with pytest.raises(CommandError, match="no active node token named 'nope'"):
        node_token_command("rotate", "nope")
    with pytest.raises(CommandError):
        node_token_command("rotate", "door", "--grace", "soon")


def test_admin_rotate_action_shows_the_new_secret_once(client, admin):
    old, _ = node_token_create(name="door")
    client.force_login(admin)
    response = client.post(CHANGELIST, {"action": "rotate_selected", "_selected_action": [old.pk]})
    body = response.content.decode()
    assert "Node token door rotated" in body and "keeps working for 24 hours" in body
    new = NodeToken.objects.get(name="door", revoked_at__isnull=True)
    secret = re.search(r'value="(ghn_[^"]+)"', body).group(1)
    assert new.token_hash == token_hash(secret)


def test_revoke_is_audited_and_happens_once(db, admin):
    node_token, _ = node_token_create(name="door")
    node_token_revoke(node_token=node_token, actor=admin, comment="host retired")
    node_token.refresh_from_db()
    assert node_token.revoked_at is not None
    event = AuditEvent.objects.get(action="node_token.revoke")
    assert (event.actor, event.comment) == (admin, "host retired")
    with pytest.raises(ValidationError, match="already revoked"):
        node_token_revoke(node_token=node_token)


def test_command_create_prints_the_token_once(db):
    out, err = node_token_command("create", "dcache-door-1")
    secret = out.strip()
    assert NodeToken.objects.get(name="dcache-door-1").token_hash == token_hash(secret)
    assert "only time it is shown" in err and secret not in err
    listing, _ = node_token_command("list")
    assert "dcache-door-1" in listing and "active" in listing
    assert secret not in listing
    assert token_hash(secret) not in listing  # only a prefix of the hash
    assert token_hash(secret)[:8] in listing


def test_command_create_refuses_a_duplicate_name(db):
    node_token_command("create", "door")
    with pytest.raises(CommandError, match="is active"):
        node_token_command("create", "door")


def test_command_revoke(db):
    node_token_command("create", "door")
    out, _ = node_token_command("revoke", "door", "--comment", "retired")
    assert "revoked" in out
    assert NodeToken.objects.get(name="door").revoked_at is not None
    assert AuditEvent.objects.get(action="node_token.revoke").comment == "retired"
    listing, _ = node_token_command("list")
    assert re.search(r"door\s+revoked", listing)
    with pytest.raises(CommandError, match="no active node token named 'door'"):
        node_token_command("revoke", "door")
    with pytest.raises(CommandError, match="no active node token named 'nope'"):
        node_token_command("revoke", "nope")


# Admin pages: who may use them, and that the secret is shown once and the hash never in full.

CHANGELIST = "/admin/campaigns/nodetoken/"
ADD = "/admin/campaigns/nodetoken/add/"


@pytest.mark.parametrize("who", [None, "member", "outsider"])
def test_admin_pages_are_for_admins_only(db, client, request, who):
    if who:
        client.force_login(request.getfixturevalue(who))
    for url in (CHANGELIST, ADD):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_admin_lists_tokens_with_a_hash_prefix_only(client, admin):
    node_token, secret = node_token_create(name="dcache-door-1")
    client.force_login(admin)
    page = client.get(CHANGELIST).content.decode()
    assert "dcache-door-1" in page and node_token.token_hash[:8] in page
    assert node_token.token_hash not in page and secret not in page
    detail = client.get(f"{CHANGELIST}{node_token.pk}/change/").content.decode()
    assert node_token.token_hash[:8] in detail
    assert node_token.token_hash not in detail and secret not in detail


def test_admin_add_shows_the_token_once(client, admin):
    client.force_login(admin)
    response = client.post(ADD, {"name": "webdav-1"})
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'value="(ghn_[^"]+)"', page).group(1)
    node_token = NodeToken.objects.get(name="webdav-1")
    assert node_token.token_hash == token_hash(secret)
    assert node_token.created_by == admin
    assert AuditEvent.objects.filter(action="node_token.create", actor=admin).exists()
    assert secret not in client.get(CHANGELIST).content.decode()
    assert secret not in client.get(f"{CHANGELIST}{node_token.pk}/change/").content.decode()


def test_admin_add_refuses_a_duplicate_name(client, admin):
    node_token_create(name="webdav-1")
    client.force_login(admin)
    response = client.post(ADD, {"name": "webdav-1"})
    assert response.status_code == 200
    assert "A node token with this name is active" in response.content.decode()
    assert NodeToken.objects.count() == 1


def test_admin_revoke_action(client, admin):
    node_token, _ = node_token_create(name="door")
    client.force_login(admin)
    response = client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [node_token.pk]},
        follow=True,
    )
    assert "Revoked: door." in response.content.decode()
    node_token.refresh_from_db()
    assert node_token.revoked_at is not None
    assert AuditEvent.objects.get(action="node_token.revoke").actor == admin


def test_admin_cannot_delete_or_edit_a_token(client, admin):
    node_token, _ = node_token_create(name="door")
    client.force_login(admin)
    assert client.get(f"{CHANGELIST}{node_token.pk}/delete/").status_code == 403
    client.post(f"{CHANGELIST}{node_token.pk}/change/", {"name": "renamed"})
    node_token.refresh_from_db()
    assert node_token.name == "door"
