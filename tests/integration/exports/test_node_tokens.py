"""Node tokens: the services (audited), manage.py node_token, and the admin pages."""

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from accounts.crypto import token_hash
from accounts.models import AuditEvent
from campaigns.models import NodeToken
from campaigns.services import node_token_create, node_token_revoke


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


def test_names_are_unique_even_after_revocation(db):
    node_token, _ = node_token_create(name="door")
    node_token_revoke(node_token=node_token)
    with pytest.raises(ValidationError, match="already exists: choose another name"):
        node_token_create(name="door")


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
    with pytest.raises(CommandError, match="already exists"):
        node_token_command("create", "door")


def test_command_revoke(db):
    node_token_command("create", "door")
    out, _ = node_token_command("revoke", "door", "--comment", "retired")
    assert "revoked" in out
    assert NodeToken.objects.get(name="door").revoked_at is not None
    assert AuditEvent.objects.get(action="node_token.revoke").comment == "retired"
    listing, _ = node_token_command("list")
    assert re.search(r"door\s+revoked", listing)
    with pytest.raises(CommandError, match="already revoked"):
        node_token_command("revoke", "door")
    with pytest.raises(CommandError, match="no node token named 'nope'"):
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
    assert "already exists" in response.content.decode()
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
