"""Identity and account-status services: validation, refusals, locking rules and audit."""

import json

import pytest
from django.core.exceptions import ValidationError

from accounts import idps
from accounts.models import Account, AuditEvent, Identity
from accounts.services import (
    IdentityInUse,
    account_create,
    account_reactivate,
    account_set_email,
    account_suspend,
    identity_add,
    identity_remove,
)

IAM = "https://iam.example.org/"
CERN = "https://auth.cern.example/realms/cern"
JANE_DN = "/C=DE/O=GermanGrid/CN=Jane Doe"


@pytest.fixture
def providers(settings, tmp_path):
    path = tmp_path / "idpsecrets.json"
    path.write_text(
        json.dumps(
            {
                "wlcg": {
                    "issuer": IAM,
                    "client_id": "c1",
                    "client_secret": "s1",
                    "display_name": "WLCG IAM",
                },
                "cern": {
                    "issuer": CERN,
                    "client_id": "c2",
                    "client_secret": "s2",
                    "display_name": "CERN SSO",
                },
            }
        )
    )
    settings.GATEHOUSE_IDPSECRETS = str(path)
    idps._load.cache_clear()
    yield
    idps._load.cache_clear()


def _oidc(account, sub="sub-1", issuer=IAM, **extra):
    return identity_add(
        account=account, type="OIDC", identity=f"SUB={sub}, ISS={issuer}", actor=None, **extra
    )


@pytest.mark.django_db
def test_x509_in_rfc2253_form_is_stored_in_slash_form_and_audited(member):
    identity = identity_add(
        account=member,
        type="X509",
        identity="CN=Jane Doe,O=GermanGrid,C=DE",
        actor=member,
        ip="192.0.2.7",
    )
    assert identity.identity == JANE_DN
    assert identity.source == "manual"
    event = AuditEvent.objects.get(action="identity.add")
    assert (event.actor, event.account, event.ip) == (member, member, "192.0.2.7")
    assert event.target == f"X509:{JANE_DN}"
    assert event.detail["identity"] == JANE_DN


@pytest.mark.django_db
def test_oidc_identity_finds_its_provider_by_issuer(member, providers):
    identity = _oidc(member, issuer=CERN, source="login")
    assert identity.idp == "cern"
    assert identity.source == "login"


@pytest.mark.django_db
def test_oidc_identity_with_a_provider_of_another_issuer_is_refused(member, providers):
    with pytest.raises(ValidationError, match="has issuer https://iam.example.org/"):
        _oidc(member, issuer=CERN, idp="wlcg")
    assert not Identity.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("type", "text", "says"),
    [
        ("OIDC", "sub-1@iam", "not an OIDC identity"),
        ("X509", "Jane Doe", "not an attribute name"),
        ("X509", "C=DE/O=GermanGrid/CN=Jane", "slash-form DN starts with '/'"),
        ("SSH", "ssh-ed25519 AAAA", "cannot be added yet"),
    ],
)
def test_malformed_identities_are_refused_with_the_reason(member, type, text, says):
    with pytest.raises(ValidationError) as caught:
        identity_add(account=member, type=type, identity=text, actor=None)
    assert says in " ".join(caught.value.messages)
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_bad_email_is_refused(member):
    with pytest.raises(ValidationError, match="email"):
        identity_add(account=member, type="X509", identity=JANE_DN, email="not-mail", actor=None)


@pytest.mark.django_db
def test_duplicate_names_the_holder_to_admins_only(member, outsider, admin):
    identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    same_dn_other_form = "CN=Jane Doe, O=GermanGrid, C=DE"

    with pytest.raises(IdentityInUse) as to_user:
        identity_add(account=outsider, type="X509", identity=same_dn_other_form, actor=outsider)
    assert "already linked to another account" in " ".join(to_user.value.messages)
    assert "member" not in " ".join(to_user.value.messages)

    with pytest.raises(IdentityInUse) as to_admin:
        identity_add(account=outsider, type="X509", identity=same_dn_other_form, actor=admin)
    assert "already linked to account 'member'" in " ".join(to_admin.value.messages)

    with pytest.raises(IdentityInUse) as from_command:
        identity_add(account=outsider, type="X509", identity=JANE_DN, actor=None)
    assert "'member'" in " ".join(from_command.value.messages)

    with pytest.raises(IdentityInUse) as own:
        identity_add(account=member, type="X509", identity=JANE_DN, actor=member)
    assert "already linked to your account" in " ".join(own.value.messages)
    assert Identity.objects.count() == 1


@pytest.mark.django_db
def test_removing_the_last_oidc_identity_of_a_user_is_refused(member):
    only = _oidc(member)
    with pytest.raises(ValidationError) as caught:
        identity_remove(identity=only, actor=member)
    assert "only identity you can log in with" in " ".join(caught.value.messages)
    with pytest.raises(ValidationError, match="last OIDC identity of account 'member'"):
        identity_remove(identity=only, actor=None)
    assert Identity.objects.filter(pk=only.pk).exists()


@pytest.mark.django_db
def test_a_second_login_identity_can_go_and_the_removal_is_audited(member, providers):
    first = _oidc(member)
    second = _oidc(member, sub="jdoe", issuer=CERN)
    identity_remove(identity=second, actor=member, ip="192.0.2.8")
    assert list(Identity.objects.filter(account=member)) == [first]
    event = AuditEvent.objects.get(action="identity.remove")
    assert event.target == f"OIDC:SUB=jdoe, ISS={CERN}"
    assert event.detail["idp"] == "cern"
    assert event.ip == "192.0.2.8"


@pytest.mark.django_db
def test_certificates_are_not_login_identities_for_the_rule(member):
    login = _oidc(member)
    cert = identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    identity_remove(identity=cert, actor=member)
    with pytest.raises(ValidationError):
        identity_remove(identity=login, actor=member)


@pytest.mark.django_db
def test_service_accounts_may_lose_their_last_identity():
    robot = account_create(name="robot", type=Account.Type.SERVICE)
    only = _oidc(robot, sub="robot-client")
    identity_remove(identity=only, actor=None)
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_allow_last_removes_it_and_says_so_in_the_audit(member):
    only = _oidc(member)
    identity_remove(identity=only, actor=None, allow_last=True)
    assert not Identity.objects.exists()
    assert AuditEvent.objects.get(action="identity.remove").detail["forced"] is True


@pytest.mark.django_db
def test_removing_an_identity_twice_says_it_is_gone(member):
    cert = identity_add(account=member, type="X509", identity=JANE_DN, actor=None)
    stale = Identity.objects.get(pk=cert.pk)
    identity_remove(identity=cert, actor=None)
    with pytest.raises(ValidationError, match="already removed"):
        identity_remove(identity=stale, actor=None)


@pytest.mark.django_db
def test_suspend_records_the_reason_and_reactivate_clears_it(member, admin):
    account_suspend(account=member, reason="  left the collaboration ", actor=admin, ip="192.0.2.9")
    member.refresh_from_db()
    assert (member.status, member.status_reason, member.is_active) == (
        "SUSPENDED",
        "left the collaboration",
        False,
    )
    suspended = AuditEvent.objects.get(action="account.suspend")
    assert (suspended.actor, suspended.comment, suspended.ip) == (
        admin,
        "left the collaboration",
        "192.0.2.9",
    )

    account_reactivate(account=member, actor=admin, reason="came back")
    assert (member.status, member.status_reason) == ("ACTIVE", "")  # the caller's object follows
    reactivated = AuditEvent.objects.get(action="account.reactivate")
    assert reactivated.comment == "came back"
    assert reactivated.detail == {"suspended_for": "left the collaboration"}


@pytest.mark.django_db
def test_suspend_needs_a_reason_and_an_active_account(member, admin):
    with pytest.raises(ValidationError, match="Say why"):
        account_suspend(account=member, reason="  ", actor=admin)
    account_suspend(account=member, reason="audit", actor=admin)
    with pytest.raises(ValidationError, match="already suspended"):
        account_suspend(account=member, reason="again", actor=admin)
    Account.objects.filter(pk=member.pk).update(status="DELETED")
    with pytest.raises(ValidationError, match="deleted"):
        account_suspend(account=member, reason="again", actor=admin)
    with pytest.raises(ValidationError, match="only suspended accounts"):
        account_reactivate(account=member, actor=admin)


@pytest.mark.django_db
def test_nobody_suspends_themselves(admin):
    with pytest.raises(ValidationError, match="your own account"):
        account_suspend(account=admin, reason="oops", actor=admin)


@pytest.mark.django_db
def test_reactivating_an_active_account_is_refused(member, admin):
    with pytest.raises(ValidationError, match="not suspended"):
        account_reactivate(account=member, actor=admin)
    assert not AuditEvent.objects.filter(action="account.reactivate").exists()


@pytest.mark.django_db
def test_set_email_validates_and_audits_a_change_only(member, admin):
    account_set_email(account=member, email="jane@example.org", actor=admin)
    member.refresh_from_db()
    assert member.email == "jane@example.org"
    event = AuditEvent.objects.get(action="account.email")
    assert event.detail == {"from": "member@example.org", "to": "jane@example.org"}
    account_set_email(account=member, email="jane@example.org", actor=admin)
    assert AuditEvent.objects.filter(action="account.email").count() == 1
    with pytest.raises(ValidationError):
        account_set_email(account=member, email="nope", actor=admin)
