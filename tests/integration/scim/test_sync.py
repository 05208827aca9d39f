"""SCIM sync against the loopback IAM (v1.12 quirks) and the dev IdP, on real PostgreSQL."""

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from accounts.models import Account, AuditEvent, Identity, IdpGroup, Registration, SyncRun
from accounts.scim.client import ClientCredentials
from accounts.scim.sync import SyncBusy, SyncNotConfigured, scim_sync
from accounts.services import account_create
from campaigns.models import Campaign, Membership
from tests.harness.scim_service import IamCertificate

from .conftest import add_person, write_idpsecrets

pytestmark = pytest.mark.django_db


def link(user, idp) -> str:
    return f"SUB={user.id}, ISS={idp.issuer}"


def identities_of(account: Account) -> set[tuple[str, str, str]]:
    return set(account.identities.values_list("type", "identity", "source"))


def snapshot_db() -> tuple:
    """Everything a failed run must leave as it was."""
    return (
        sorted(Account.objects.values_list("name", "status", "email")),
        sorted(Identity.objects.values_list("type", "identity", "account__name", "source")),
        sorted(IdpGroup.objects.values_list("scim_id", "name")),
    )


@pytest.mark.sqlite
def test_250_users_over_three_pages_become_accounts(provider, directory, scim, idp):
    people = [
        add_person(directory, f"user{i:03d}", f"CN=User {i},O=Example,C=DE") for i in range(250)
    ]
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.counts["created"] == 250 and run.counts["users"] == 250
    assert run.counts["identities_added"] == 750
    assert Account.objects.count() == 250
    jane = Account.objects.get(name="user042")
    assert identities_of(jane) == {
        ("OIDC", link(people[42], idp), "scim"),
        ("OIDC", "SUB=ext-user042, ISS=https://accounts.example.org/", "scim"),
        ("X509", "/C=DE/O=Example/CN=User 42", "scim"),
    }
    assert jane.uid is not None and jane.email == "user042@example.org"
    starts = {r.start_index for r in scim.fetched("/scim/Users") if r.status == 200}
    assert {1, 101, 201} <= starts
    assert AuditEvent.objects.filter(action="scim.account.create").count() == 250
    again = scim_sync(provider=provider)
    assert again.outcome == SyncRun.Outcome.SUCCESS
    assert (again.counts["created"], again.counts["updated"], again.counts["suspended"]) == (
        0,
        0,
        0,
    )


def test_token_is_fetched_once_and_reused(provider, directory, scim, idp):
    ClientCredentials.forget_all()
    add_person(directory, "anna")
    before = idp.log().count("POST /token")
    scim_sync(provider=provider)
    scim_sync(provider=provider)
    assert idp.log().count("POST /token") - before == 1


@pytest.mark.sqlite
def test_a_user_removed_from_iam_is_suspended_not_deleted(provider, directory, scim, idp):
    people = [add_person(directory, f"u{i}", f"CN=U {i},O=Example,C=DE") for i in range(20)]
    scim_sync(provider=provider)
    gone = people[3]
    directory.remove_user(gone.id)
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS
    assert run.counts["suspended"] == 1
    account = Account.objects.get(name="u3")
    assert account.status == Account.Status.SUSPENDED
    assert "no longer in IAM" in account.status_reason
    # Only the link to the IAM id stays, so the same account comes back if the user does.
    assert identities_of(account) == {("OIDC", link(gone, idp), "scim")}
    assert AuditEvent.objects.filter(action="scim.account.suspend", account=account).exists()


def test_deactivated_then_reactivated_and_end_time(provider, directory, scim, settings):
    settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT = 100
    anna = add_person(directory, "anna", "CN=Anna,O=Example,C=DE")
    bert = add_person(directory, "bert")
    admin_suspended = add_person(directory, "carl")
    scim_sync(provider=provider)
    Account.objects.filter(name="carl").update(
        status=Account.Status.SUSPENDED, status_reason="Suspended by an admin: unpaid fees"
    )
    directory.update_user(anna.id, active=False)
    directory.update_user(bert.id, end_time=datetime.now(UTC) - timedelta(days=1))
    run = scim_sync(provider=provider)
    assert run.counts["suspended"] == 2
    assert Account.objects.get(name="anna").status == Account.Status.SUSPENDED
    assert "deactivated in IAM" in Account.objects.get(name="anna").status_reason
    assert "membership ended" in Account.objects.get(name="bert").status_reason
    assert not Identity.objects.filter(type="X509", account__name="anna").exists()

    directory.update_user(anna.id, active=True)
    directory.update_user(bert.id, end_time=datetime.now(UTC) + timedelta(days=365))
    run = scim_sync(provider=provider)
    assert run.counts["reactivated"] == 2
    anna_account = Account.objects.get(name="anna")
    assert anna_account.status == Account.Status.ACTIVE and anna_account.status_reason == ""
    assert Identity.objects.filter(type="X509", account=anna_account).exists()
    carl = Account.objects.get(name="carl")  # an admin's suspension is not the sync's to undo
    assert carl.status == Account.Status.SUSPENDED and "unpaid" in carl.status_reason
    del admin_suspended


def test_rfc2253_dn_with_escaped_comma_and_utf8_becomes_slash_form(provider, directory, scim):
    add_person(directory, "mrossi", "CN=Rossi\\, Mario,OU=Fisica,O=Università di Bologna,C=IT")
    scim_sync(provider=provider)
    assert Identity.objects.filter(
        type="X509", identity="/C=IT/O=Università di Bologna/OU=Fisica/CN=Rossi, Mario"
    ).exists()


def test_duplicate_dn_claimed_by_two_users_is_reported_and_linked_to_neither(
    provider, directory, scim
):
    shared = "CN=Shared Robot,O=Example,C=DE"
    add_person(directory, "anna", shared)
    bert = add_person(directory, "bert")
    scim_sync(provider=provider)
    assert Identity.objects.filter(type="X509", account__name="anna").count() == 1
    directory.add_certificate(bert.id, IamCertificate(subject_dn=shared))
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS
    assert run.counts["conflicts"] == 1
    assert any("anna, bert" in line for line in run.counts["report"])
    assert not Identity.objects.filter(type="X509", identity="/C=DE/O=Example/CN=Shared Robot")
    conflict = AuditEvent.objects.get(action="scim.identity.conflict")
    assert conflict.detail["users"] == ["anna", "bert"]


@pytest.mark.sqlite
def test_manual_and_login_identities_are_never_removed(provider, directory, scim, idp, settings):
    settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT = 100
    anna = add_person(directory, "anna", "CN=Anna,O=Example,C=DE")
    # Anna logged in before the first sync: her link identity came from the login.
    account = account_create(name="anna-login", email="anna@example.org")
    Identity.objects.create(type="OIDC", identity=link(anna, idp), account=account, source="login")
    manual = Identity.objects.create(
        type="X509", identity="/C=DE/O=Example/CN=Anna Old Cert", account=account, source="manual"
    )
    scim_sync(provider=provider)
    assert Account.objects.count() == 1  # linked, not duplicated
    directory.remove_certificate(anna.id, "CN=Anna,O=Example,C=DE")
    directory.update_user(anna.id, active=False)
    scim_sync(provider=provider)
    left = identities_of(Account.objects.get(pk=account.pk))
    assert ("OIDC", link(anna, idp), "login") in left
    assert ("X509", manual.identity, "manual") in left
    assert not any(source == "scim" and kind == "X509" for kind, _, source in left)


def test_an_identity_of_another_account_is_not_taken(provider, directory, scim):
    other = account_create(name="someone", email="someone@example.org")
    Identity.objects.create(
        type="X509", identity="/C=DE/O=Example/CN=Taken", account=other, source="manual"
    )
    add_person(directory, "anna", "CN=Taken,O=Example,C=DE")
    run = scim_sync(provider=provider)
    assert Identity.objects.get(identity="/C=DE/O=Example/CN=Taken").account == other
    assert any("already belongs to account someone" in line for line in run.counts["report"])


def test_unknown_users_are_registered_when_the_provider_says_so(
    provider, directory, scim, idp, tmp_path, settings
):
    from accounts import idps

    write_idpsecrets(tmp_path / "idpsecrets.json", idp, scim, unknown_users="register")
    idps._load.cache_clear()
    anna = add_person(directory, "anna.k")
    run = scim_sync(provider=idps.get_provider("iam"))
    assert run.counts["registrations"] == 1 and not Account.objects.exists()
    registration = Registration.objects.get()
    assert (
        registration.identity == link(anna, idp) and registration.requested_name == "anna_k"
    )  # as at login
    assert scim_sync(provider=idps.get_provider("iam")).counts["registrations"] == 0


def test_a_page_failing_once_is_retried(provider, directory, scim):
    for i in range(150):
        add_person(directory, f"u{i:03d}")
    scim.faults.fail_once("/scim/Users", start_index=101)
    scim.faults.throttle("/scim/Users", start_index=1, retry_after=0)
    scim.faults.slow("/scim/Groups", seconds=6)  # longer than the 5 s timeout
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert run.counts["created"] == 150 and run.counts["retries"] >= 3
    statuses = [r.status for r in scim.fetched("/scim/Users") if r.start_index == 101]
    assert statuses[:2] == [500, 200]


@pytest.mark.parametrize(
    "arm, words",
    [
        (lambda s: s.faults.fail_always("/scim/Users", start_index=101), "kept failing"),
        (lambda s: s.faults.malformed("/scim/Users", start_index=101), "not JSON"),
        (lambda s: s.faults.contradict_total("/scim/Users", start_index=101), "changed its answer"),
        (lambda s: s.faults.drop("/scim/Users", start_index=1, times=None), "did not answer"),
    ],
    ids=["500-always", "malformed-json", "total-contradicted", "connection-dropped"],
)
def test_a_broken_read_fails_the_run_and_changes_nothing(provider, directory, scim, arm, words):
    people = [add_person(directory, f"u{i:03d}", f"CN=U{i},O=Example,C=DE") for i in range(150)]
    scim_sync(provider=provider)
    directory.remove_user(people[0].id)
    directory.update_user(people[1].id, active=False)
    add_person(directory, "newcomer")
    before = snapshot_db()
    arm(scim)
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert words in run.error and "Nothing was changed" in run.error
    assert snapshot_db() == before


def test_order_that_changes_between_requests_is_still_read_completely(
    provider, directory, idp, settings
):
    from accounts import idps
    from tests.harness.scim_service import JwtBearerVerifier, ScimService

    for i in range(300):
        add_person(directory, f"u{i:03d}")
    settings.GATEHOUSE_SCIM_MAX_PASSES = 30
    verifier = JwtBearerVerifier(idp.issuer, audience=idp.scim_audience)
    with ScimService(directory, verifier, order="shuffle", seed=5) as shuffling:
        write_idpsecrets(__import__("pathlib").Path(settings.GATEHOUSE_IDPSECRETS), idp, shuffling)
        idps._load.cache_clear()
        run = scim_sync(provider=idps.get_provider("iam"))
        assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
        assert run.counts["created"] == 300 and run.counts["passes"] > 1
        # The second run asks for the few it missed by id instead of reading everything again.
        again = scim_sync(provider=idps.get_provider("iam"))
        assert again.outcome == SyncRun.Outcome.SUCCESS, again.error
        assert any(r.path.startswith("/scim/Users/") for r in shuffling.requests)


def test_failsafe_stops_a_mass_suspension_unless_forced(provider, directory, scim):
    people = [add_person(directory, f"u{i:03d}") for i in range(40)]
    scim_sync(provider=provider)
    for person in people[:5]:
        directory.remove_user(person.id)
    before = snapshot_db()
    halted = scim_sync(provider=provider)
    assert halted.outcome == SyncRun.Outcome.HALTED
    assert "would suspend 5 of 40" in halted.error and "--force" in halted.error
    assert snapshot_db() == before
    forced = scim_sync(provider=provider, force=True)
    assert forced.outcome == SyncRun.Outcome.SUCCESS and forced.forced
    assert Account.objects.filter(status=Account.Status.SUSPENDED).count() == 5


def test_dry_run_changes_nothing(provider, directory, scim):
    add_person(directory, "anna")
    run = scim_sync(provider=provider, dry_run=True)
    assert run.outcome == SyncRun.Outcome.DRY_RUN
    assert run.counts["created"] == 1 and "create account anna" in run.counts["would"][0]
    assert not Account.objects.exists()


@pytest.mark.sqlite
def test_groups_and_a_linked_campaign(provider, directory, scim, pi, settings):
    settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT = 100
    anna, bert = add_person(directory, "anna"), add_person(directory, "bert")
    parent = directory.add_group("atlas")
    child = directory.add_group("production", parent=parent)
    directory.add_member(child.id, anna.id)
    directory.add_member(child.id, bert.id)
    scim_sync(provider=provider)
    group = IdpGroup.objects.get(scim_id=child.id)
    assert group.name == "atlas/production"
    assert set(group.members.values_list("name", flat=True)) == {"anna", "bert"}
    assert not any(r.path.endswith("/members") for r in scim.requests)  # nobody follows it
    campaign = Campaign.objects.create(slug="prod", title="Production", pi=pi, gid=30000001)
    campaign.idp_group = group
    campaign.save()
    run = scim_sync(provider=provider)
    assert run.counts["campaign_members_added"] == 2
    approved = Membership.objects.filter(campaign=campaign, state="approved", source="scim")
    assert set(approved.values_list("account__name", flat=True)) == {"anna", "bert"}
    directory.remove_member(child.id, bert.id)
    run = scim_sync(provider=provider)
    assert run.counts["campaign_members_revoked"] == 1
    assert Membership.objects.get(account__name="bert", campaign=campaign).state == "revoked"
    assert list(group.members.values_list("name", flat=True)) == ["anna"]
    assert any(r.path == f"/scim/Groups/{child.id}/members" for r in scim.requests)
    directory.remove_group(child.id)  # gone from IAM: kept for the campaign, emptied
    run = scim_sync(provider=provider)
    assert run.counts["campaign_members_revoked"] == 1
    assert IdpGroup.objects.filter(pk=group.pk).exists() and not group.members.exists()
    assert Campaign.objects.get(pk=campaign.pk).idp_group_id == group.pk


def test_a_provider_not_configured_for_sync_is_never_contacted(provider, scim, settings):
    from accounts import idps

    with pytest.raises(SyncNotConfigured):
        scim_sync(provider=idps.get_provider("cern"))
    settings.GATEHOUSE_SCIM_IDPS = []
    with pytest.raises(SyncNotConfigured):
        scim_sync(provider=provider)
    assert scim.requests == []


@pytest.mark.sqlite
@pytest.mark.django_db(transaction=True)
def test_two_runs_never_overlap(provider, directory, scim):
    for i in range(120):
        add_person(directory, f"u{i:03d}")
    scim.faults.slow("/scim/Users", seconds=1.0, start_index=1)
    results, errors = [], []

    def run() -> None:
        try:
            results.append(scim_sync(provider=provider))
        except SyncBusy as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 1 and len(errors) == 1
    assert "Another SCIM sync of iam is running" in str(errors[0])
    assert SyncRun.objects.count() == 1 and Account.objects.count() == 120


@pytest.mark.django_db(transaction=True)
def test_a_dead_run_frees_the_lock(provider, directory, scim):
    import hashlib

    add_person(directory, "anna")
    dead = SyncRun.objects.create(idp="iam", triggered_by="beat")
    key = int.from_bytes(hashlib.sha256(b"gatehouse-scim:iam").digest()[:8], "big", signed=True)
    settings_dict = connection.settings_dict
    dying = psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        dbname=settings_dict["NAME"],
        autocommit=True,
    )
    dying.execute("SELECT pg_advisory_lock(%s)", [key])
    with pytest.raises(SyncBusy):
        scim_sync(provider=provider)
    dying.close()  # the worker holding the lock dies; PostgreSQL frees it as the backend exits
    deadline = time.monotonic() + 10
    while True:
        try:
            run = scim_sync(provider=provider)
            break
        except SyncBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert run.outcome == SyncRun.Outcome.SUCCESS
    dead.refresh_from_db()
    assert dead.outcome == SyncRun.Outcome.FAILED and "worker died" in dead.error


def test_changed_email_and_name_update_the_account(provider, directory, scim):
    anna = add_person(directory, "anna")
    scim_sync(provider=provider)
    directory.update_user(anna.id, email="anna.new@example.org", family_name="Neumann")
    run = scim_sync(provider=provider)
    assert run.counts["updated"] == 1
    account = Account.objects.get(name="anna")
    assert account.email == "anna.new@example.org" and account.display_name.endswith("Neumann")
    assert AuditEvent.objects.filter(action="scim.account.update", account=account).exists()


def test_a_user_iam_sends_unreadable_is_left_alone_not_suspended(provider, directory, scim):
    people = [add_person(directory, f"u{i:02d}", f"CN=U{i},O=Example,C=DE") for i in range(20)]
    scim_sync(provider=provider)
    directory.update_user(people[0].id, email="not an address")
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS
    assert run.counts["unreadable"] == 1 and run.counts["suspended"] == 0
    account = Account.objects.get(name="u00")
    assert account.status == Account.Status.ACTIVE
    assert Identity.objects.filter(account=account, type="X509").exists()
    assert any("could not be read" in line for line in run.counts["report"])


def test_an_end_time_that_passes_between_runs_suspends_though_iam_sent_the_same(
    provider, directory, scim, settings
):
    settings.GATEHOUSE_SCIM_FAILSAFE_PERCENT = 100
    add_person(directory, "anna", end_time=datetime.now(UTC) + timedelta(seconds=3))
    add_person(directory, "bert")
    assert scim_sync(provider=provider).counts["created"] == 2
    time.sleep(3.5)
    run = scim_sync(provider=provider)  # same payloads: staged from the memo, not re-validated
    assert run.counts["unchanged_users"] == 2 and run.counts["suspended"] == 1
    assert "membership ended" in Account.objects.get(name="anna").status_reason


def test_scim_names_accounts_like_login_does(provider, directory, scim, idp):
    from accounts.selectors import account_name_suggestion

    expected = account_name_suggestion(claims={"preferred_username": "jane.doe"})
    add_person(directory, "jane.doe", "CN=Jane Doe,O=Example,C=DE")
    add_person(directory, "-Jane.Doe-", "CN=Jane Doe 2,O=Example,C=DE")
    run = scim_sync(provider=provider)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert expected == "jane_doe"
    assert sorted(Account.objects.values_list("name", flat=True)) == ["jane_doe", "jane_doe2"]
