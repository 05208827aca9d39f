"""Admin pages for the accounts app: they render, go through the services, never show tokens."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.crypto import token_hash
from accounts.models import (
    Account,
    AuditEvent,
    Identity,
    IdpGroup,
    IdpGroupMembership,
    Registration,
    SyncRun,
)
from accounts.services import audit_record, identity_add
from tokens.models import Token

ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtYWNjZXNzIn0.c2lnbmF0dXJl-access"
REFRESH = "refresh-value-that-must-stay-secret"
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJub25jZSI6InNlY3JldCJ9.aWQtdG9rZW4-id"


@pytest.fixture
def records(member):
    identity = identity_add(
        account=member, type="OIDC", identity="SUB=m-1, ISS=http://127.0.0.1:9400/", actor=None
    )
    token = Token.objects.create(
        account=member,
        identity=identity,
        idp="dev",
        token_hash=token_hash(ACCESS),
        token=ACCESS,
        id_token=ID_TOKEN,
        refresh_token=REFRESH,
        scope="openid profile storage.read:/",
        audience="rucio",
        expires_at=timezone.now() + timedelta(hours=1),
        refresh=True,
    )
    registration = Registration.objects.create(
        idp="dev", identity="SUB=new-1, ISS=http://127.0.0.1:9400/", requested_name="newbie"
    )
    group = IdpGroup.objects.create(idp="dev", scim_id="g-1", name="escape/astro")
    IdpGroupMembership.objects.create(group=group, account=member)
    run = SyncRun.objects.create(idp="dev", outcome="success", counts={"users": 3})
    event = audit_record(action="test.event", account=member, target="account:member")
    return {
        Account: member,
        Identity: identity,
        Token: token,
        Registration: registration,
        IdpGroup: group,
        SyncRun: run,
        AuditEvent: event,
    }


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


MODELS = [Account, Identity, Token, AuditEvent, Registration, IdpGroup, SyncRun]


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_pages_render_for_admins(client, admin, records, model):
    client.force_login(admin)
    changelist = client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    change = client.get(_url(model, "change", records[model].pk))
    assert change.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_ordinary_users_are_kept_out(client, member, records, model):
    client.force_login(member)
    response = client.get(_url(model, "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_changelist_search_and_filters(client, admin, records, member):
    client.force_login(admin)
    found = client.get(_url(Account, "changelist"), {"q": "SUB=m-1"})
    assert [a.name for a in found.context["cl"].result_list] == ["member"]
    filtered = client.get(_url(Account, "changelist"), {"status__exact": "SUSPENDED"})
    assert filtered.context["cl"].result_count == 0
    by_idp = client.get(_url(Token, "changelist"), {"idp": "dev", "refresh__exact": "1"})
    assert by_idp.context["cl"].result_count == 1
    by_action = client.get(_url(AuditEvent, "changelist"), {"action": "test.event"})
    assert by_action.context["cl"].result_count == 1


@pytest.mark.django_db
def test_token_values_never_reach_the_page(client, admin, records):
    client.force_login(admin)
    token = records[Token]
    pages = [
        client.get(_url(Token, "changelist")),
        client.get(_url(Token, "change", token.pk)),
        client.get(_url(Token, "delete", token.pk)),
        client.get(_url(Account, "change", records[Account].pk)),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        for secret in (ACCESS, REFRESH, ID_TOKEN, "secret-access"):
            assert secret not in html
    assert token.token_hash[:12] in pages[0].content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", [Token, AuditEvent, Registration, IdpGroup, SyncRun], ids=lambda m: m.__name__
)
def test_records_cannot_be_added_or_edited_here(client, admin, records, model):
    client.force_login(admin)
    assert client.get(_url(model, "add")).status_code == 403
    change = client.get(_url(model, "change", records[model].pk))
    assert 'name="_save"' not in change.content.decode()


@pytest.mark.django_db
def test_audit_events_cannot_be_deleted(client, admin, records):
    client.force_login(admin)
    event = records[AuditEvent]
    assert client.post(_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_suspend_action_asks_for_a_reason_then_uses_the_service(client, admin, member, outsider):
    client.force_login(admin)
    url = _url(Account, "changelist")
    selection = {"action": "suspend_accounts", "_selected_action": [member.pk, outsider.pk]}
    ask = client.post(url, selection)
    assert ask.status_code == 200
    assert "Suspend" in ask.content.decode() and 'name="reason"' in ask.content.decode()

    done = client.post(url, {**selection, "apply": "1", "reason": "security incident"}, follow=True)
    assert "2 account(s) suspended" in done.content.decode()
    for account in (member, outsider):
        account.refresh_from_db()
        assert (account.status, account.status_reason) == ("SUSPENDED", "security incident")
    assert AuditEvent.objects.filter(action="account.suspend", actor=admin).count() == 2

    client.post(url, {"action": "reactivate_accounts", "_selected_action": [member.pk]})
    member.refresh_from_db()
    assert member.status == "ACTIVE"
    assert AuditEvent.objects.filter(action="account.reactivate", actor=admin).count() == 1


@pytest.mark.django_db
def test_suspending_oneself_is_refused_in_the_admin(client, admin):
    client.force_login(admin)
    response = client.post(
        _url(Account, "changelist"),
        {"action": "suspend_accounts", "_selected_action": [admin.pk], "apply": "1", "reason": "x"},
        follow=True,
    )
    assert "cannot suspend your own account" in response.content.decode()
    admin.refresh_from_db()
    assert admin.status == "ACTIVE"


@pytest.mark.django_db
def test_adding_an_account_in_the_admin_allocates_a_uid(client, admin):
    client.force_login(admin)
    response = client.post(
        _url(Account, "add"),
        {"name": "newcomer", "type": "USER", "email": "n@example.org", "display_name": "New Comer"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    newcomer = Account.objects.get(name="newcomer")
    assert newcomer.uid is not None
    assert AuditEvent.objects.filter(
        action="account.create", account=newcomer, actor=admin
    ).exists()


@pytest.mark.django_db
def test_changing_email_in_the_admin_is_audited(client, admin, member):
    client.force_login(admin)
    response = client.post(
        _url(Account, "change", member.pk),
        {
            "name": "member",
            "display_name": "Member",
            "email": "new@example.org",
            "type": "USER",
            "identities-TOTAL_FORMS": "0",
            "identities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member.refresh_from_db()
    assert member.email == "new@example.org"
    assert AuditEvent.objects.get(action="account.email").detail["to"] == "new@example.org"


@pytest.mark.django_db
def test_adding_an_identity_in_the_admin_normalises_and_refuses_duplicates(
    client, admin, member, outsider
):
    client.force_login(admin)
    url = _url(Identity, "add")
    response = client.post(
        url, {"account": member.pk, "type": "X509", "identity": "CN=Jane Doe,O=GermanGrid,C=DE"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Identity.objects.get(type="X509").identity == "/C=DE/O=GermanGrid/CN=Jane Doe"
    assert AuditEvent.objects.filter(action="identity.add", actor=admin).exists()

    again = client.post(
        url, {"account": outsider.pk, "type": "X509", "identity": "/C=DE/O=GermanGrid/CN=Jane Doe"}
    )
    assert again.status_code == 200
    assert "Already linked to account &#x27;member&#x27;" in again.content.decode()
    bad = client.post(url, {"account": outsider.pk, "type": "X509", "identity": "Jane Doe"})
    assert "is not an attribute name" in bad.content.decode()
    assert Identity.objects.count() == 1


@pytest.mark.django_db
def test_deleting_an_identity_in_the_admin_is_audited(client, admin, records):
    client.force_login(admin)
    identity = records[Identity]
    response = client.post(_url(Identity, "delete", identity.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Identity.objects.filter(pk=identity.pk).exists()
    event = AuditEvent.objects.get(action="identity.remove")
    assert (event.actor, event.detail["forced"]) == (admin, True)


@pytest.mark.django_db
def test_identities_are_not_edited_in_place(client, admin, records):
    client.force_login(admin)
    change = client.get(_url(Identity, "change", records[Identity].pk))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


def _account_form(account: Account, **changes) -> dict:
    data = {
        "name": account.name,
        "display_name": account.display_name,
        "email": account.email,
        "type": account.type,
        "is_staff": account.is_staff,
        "is_superuser": account.is_superuser,
        "groups": [g.pk for g in account.groups.all()],
        "user_permissions": [],
        "identities-TOTAL_FORMS": 0,
        "identities-INITIAL_FORMS": 0,
        **changes,
    }
    return {key: value for key, value in data.items() if value is not False}


def test_every_change_of_rights_in_the_admin_is_audited(client, admin, member):
    from django.contrib.auth.models import Group

    operators = Group.objects.create(name="operators")
    client.force_login(admin)
    url = _url(Account, "change", member.pk)
    response = client.post(url, _account_form(member, is_staff=True, groups=[operators.pk]))
    assert response.status_code == 302, response.content[:3000]
    response = client.post(url, _account_form(member, is_staff=True, is_superuser=True, groups=[]))
    assert response.status_code == 302, response.content[:3000]
    events = {
        (e.action, e.actor_name, json.dumps(e.detail, sort_keys=True))
        for e in AuditEvent.objects.filter(account=member, action__startswith="account.set_")
    }
    assert events == {
        ("account.set_is_staff", "admin", json.dumps({"from": False, "to": True}, sort_keys=True)),
        (
            "account.set_groups",
            "admin",
            json.dumps({"added": ["operators"], "removed": []}, sort_keys=True),
        ),
        (
            "account.set_is_superuser",
            "admin",
            json.dumps({"from": False, "to": True}, sort_keys=True),
        ),
        (
            "account.set_groups",
            "admin",
            json.dumps({"added": [], "removed": ["operators"]}, sort_keys=True),
        ),
    }
    member.refresh_from_db()
    assert member.is_staff and member.is_superuser and not member.groups.exists()


def test_a_change_that_touches_no_rights_audits_none(client, admin, member):
    client.force_login(admin)
    response = client.post(
        _url(Account, "change", member.pk), _account_form(member, display_name="Renamed")
    )
    assert response.status_code == 302, response.content[:3000]
    assert not AuditEvent.objects.filter(action__startswith="account.set_").exists()


def test_a_staff_account_made_in_the_admin_is_audited(client, admin):
    client.force_login(admin)
    response = client.post(
        _url(Account, "add"),
        {"name": "operator", "type": "USER", "email": "op@example.org", "is_staff": "on"},
    )
    assert response.status_code == 302, response.content[:3000]
    event = AuditEvent.objects.get(action="account.set_is_staff")
    assert event.account.name == "operator" and event.actor == admin
