"""The Rucio reconcile against a real Rucio 41.5.1 server (no mocks)."""

import threading

import pytest

from accounts.dn import dn_for_storage
from accounts.models import Account, Identity, RucioAccountState, SyncRun
from accounts.rucio.client import OWNER_KEY, OWNER_VALUE
from accounts.rucio.sync import LOCK_NAME, SyncBusy, rucio_sync
from accounts.scim.sync import sync_lock
from accounts.services import (
    account_create,
    account_reactivate,
    account_suspend,
    identity_add,
    identity_remove,
)

ISSUER = "https://iam.example.org/"
NON_ASCII_DN = "CN=José Müller,O=Übung,C=DE"
MULTI_RDN_DN = "CN=Ana Silva+UID=asilva,OU=Physics,O=Example,C=PT"

pytestmark = pytest.mark.django_db


def _person(name: str) -> Account:
    return account_create(name=name, email=f"{name}@example.org")


def _rucio_identities(client, name):
    return {(i["type"], i["identity"]) for i in client.identities(name) or []}


def test_new_account_and_identities_appear_and_authenticate_lookups_find_them(rucio, rucio_client):
    jane = _person("jane-new")
    oidc = identity_add(
        actor=None, account=jane, type="OIDC", identity=f"SUB=jane-sub-1, ISS={ISSUER}"
    )
    cert = identity_add(actor=None, account=jane, type="X509", identity=NON_ASCII_DN)
    multi = identity_add(actor=None, account=jane, type="X509", identity=MULTI_RDN_DN)

    run = rucio_sync()

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    info = rucio_client.account("jane-new")
    assert (info["status"], info["account_type"], info["email"]) == (
        "ACTIVE",
        "USER",
        "jane-new@example.org",
    )
    assert rucio_client.attributes("jane-new")[OWNER_KEY] == OWNER_VALUE
    assert _rucio_identities(rucio_client, "jane-new") == {
        ("OIDC", f"SUB=jane-sub-1, ISS={ISSUER}"),
        # canl-java's oneline form, as dCache and Rucio see these certificates
        ("X509", "/C=DE/O=\\xC3\\x9Cbung/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller"),
        ("X509", "/C=PT/O=Example/OU=Physics/UID=asilva+CN=Ana Silva"),
    }
    # The lookups Rucio's authentication does, by the exact strings (keys with '/').
    assert rucio_client.accounts_for_identity(identity=oidc.identity, type="OIDC") == ["jane-new"]
    for identity in (cert, multi):
        slash = dn_for_storage(identity.identity)
        assert rucio_client.accounts_for_identity(identity=slash, type="X509") == ["jane-new"]
        assert [a["account"] for a in rucio_client.accounts(identity=slash)] == ["jane-new"]
    # The multi-valued RDN and the non-ASCII DN as the one DN renderer writes them.
    assert dn_for_storage(MULTI_RDN_DN) in {
        i for _, i in _rucio_identities(rucio_client, "jane-new")
    }
    assert run.counts["created"] >= 1 and run.counts["identities_added"] >= 3


def test_no_change_run_asks_rucio_only_for_the_listings(rucio):
    kim = _person("kim-steady")
    identity_add(actor=None, account=kim, type="OIDC", identity=f"SUB=kim-sub, ISS={ISSUER}")
    first = rucio_sync()
    assert first.outcome == SyncRun.Outcome.SUCCESS, first.error

    second = rucio_sync()

    assert second.outcome == SyncRun.Outcome.SUCCESS
    assert second.counts["in_sync"] == second.counts["accounts"]
    # one login and the two account listings, however many accounts there are
    assert second.counts["requests"] == 3


def test_removal_suspension_and_reactivation_reach_rucio(rucio, rucio_client, admin):
    lea = _person("lea-cycle")
    keep = identity_add(
        actor=None, account=lea, type="OIDC", identity=f"SUB=lea-keep, ISS={ISSUER}"
    )
    gone = identity_add(
        actor=None, account=lea, type="OIDC", identity=f"SUB=lea-gone, ISS={ISSUER}"
    )
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS

    identity_remove(identity=gone, actor=admin, allow_last=True)
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    assert _rucio_identities(rucio_client, "lea-cycle") == {("OIDC", keep.identity)}

    account_suspend(account=lea, actor=admin, reason="left the project")
    run = rucio_sync()
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.counts["suspended"] == 1
    assert rucio_client.account("lea-cycle")["status"] == "SUSPENDED"
    assert "lea-cycle" not in {a["account"] for a in rucio_client.accounts()}

    account_reactivate(account=Account.objects.get(pk=lea.pk), actor=admin)
    run = rucio_sync()
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.counts["reactivated"] == 1
    assert rucio_client.account("lea-cycle")["status"] == "ACTIVE"
    assert _rucio_identities(rucio_client, "lea-cycle") == {("OIDC", keep.identity)}


def test_a_rucio_account_gatehouse_does_not_own_is_left_alone(rucio, rucio_client):
    rucio_client.account_add(name="mo-theirs", type="USER", email="mo@elsewhere.org")
    rucio_client.identity_add(
        name="mo-theirs", type="OIDC", identity=f"SUB=mo-other, ISS={ISSUER}", email="mo@x.org"
    )
    mo = _person("mo-theirs")
    identity_add(actor=None, account=mo, type="OIDC", identity=f"SUB=mo-ours, ISS={ISSUER}")

    run = rucio_sync()

    assert run.outcome == SyncRun.Outcome.SUCCESS
    assert run.counts["not_owned"] == 1
    assert any("mo-theirs" in line for line in run.counts["report"])
    assert rucio_client.account("mo-theirs")["email"] == "mo@elsewhere.org"
    assert _rucio_identities(rucio_client, "mo-theirs") == {("OIDC", f"SUB=mo-other, ISS={ISSUER}")}
    assert "did not create" in RucioAccountState.objects.get(account=mo).problem


def test_one_500_then_working_gives_a_complete_run(rucio, rucio_proxy, rucio_client):
    ned = _person("ned-retry")
    identity_add(actor=None, account=ned, type="OIDC", identity=f"SUB=ned-sub, ISS={ISSUER}")
    rucio_proxy.fail_next = 1

    run = rucio_sync(url=rucio_proxy.url)

    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
    assert rucio_proxy.failed == 1
    assert _rucio_identities(rucio_client, "ned-retry") == {("OIDC", f"SUB=ned-sub, ISS={ISSUER}")}


def test_rucio_down_gives_a_failed_run_and_no_records(rucio, rucio_proxy):
    ola = _person("ola-down")
    identity_add(actor=None, account=ola, type="OIDC", identity=f"SUB=ola-sub, ISS={ISSUER}")
    rucio_proxy.down = True

    run = rucio_sync(url=rucio_proxy.url)

    assert run.outcome == SyncRun.Outcome.FAILED
    assert "did not answer" in run.error
    assert not RucioAccountState.objects.filter(account=ola).exists()


def test_rucio_failing_half_way_keeps_only_finished_accounts_then_repeats_cleanly(
    rucio, rucio_proxy, rucio_client
):
    names = [f"pat-half-{n}" for n in range(3)]
    for name in names:
        identity_add(
            actor=None, account=_person(name), type="OIDC", identity=f"SUB={name}, ISS={ISSUER}"
        )
    # Login and both listings (3), the first account's six calls (GET 404, POST account,
    # POST attribute, PUT e-mail, GET identities, POST identity), then one of the second's.
    rucio_proxy.down_after = 3 + 6 + 1
    run = rucio_sync(url=rucio_proxy.url)
    assert run.outcome == SyncRun.Outcome.FAILED
    recorded = set(
        RucioAccountState.objects.filter(account__name__in=names).values_list(
            "account__name", flat=True
        )
    )
    for name in recorded:  # every account Gatehouse recorded really is complete in Rucio
        assert _rucio_identities(rucio_client, name) == {("OIDC", f"SUB={name}, ISS={ISSUER}")}
    assert recorded == {names[0]}

    rucio_proxy.down, rucio_proxy.down_after = False, None
    again = rucio_sync(url=rucio_proxy.url)
    assert again.outcome == SyncRun.Outcome.SUCCESS, again.error
    for name in names:
        assert _rucio_identities(rucio_client, name) == {("OIDC", f"SUB={name}, ISS={ISSUER}")}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_do_not_interleave(rucio, rucio_client):
    _person("quinn-lock")
    held, release = threading.Event(), threading.Event()

    def other_run_holding_the_lock():
        from django.db import connection

        with sync_lock(LOCK_NAME) as acquired:
            assert acquired
            held.set()
            release.wait(30)
        connection.close()

    thread = threading.Thread(target=other_run_holding_the_lock)
    thread.start()
    assert held.wait(10)
    try:
        with pytest.raises(SyncBusy):
            rucio_sync()
    finally:
        release.set()
        thread.join()
    assert rucio_client.account("quinn-lock") is None
    assert not SyncRun.objects.filter(kind=SyncRun.Kind.RUCIO).exists()
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    assert rucio_client.account("quinn-lock")["status"] == "ACTIVE"


def test_failsafe_refuses_mass_suspension_without_force(rucio, rucio_client, admin, settings):
    people = [_person(f"sam-mass-{n}") for n in range(3)]
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    settings.GATEHOUSE_RUCIO_FAILSAFE_PERCENT = 0
    for person in people:
        account_suspend(account=person, actor=admin, reason="test")

    halted = rucio_sync()
    assert halted.outcome == SyncRun.Outcome.HALTED
    assert "--force" in halted.error
    assert rucio_client.account("sam-mass-0")["status"] == "ACTIVE"

    forced = rucio_sync(force=True)
    assert forced.outcome == SyncRun.Outcome.SUCCESS
    assert rucio_client.account("sam-mass-0")["status"] == "SUSPENDED"


def test_dry_run_changes_nothing(rucio, rucio_client):
    _person("tia-dry")
    run = rucio_sync(dry_run=True)
    assert run.outcome == SyncRun.Outcome.DRY_RUN
    assert "would create tia-dry" in run.counts["report"]
    assert rucio_client.account("tia-dry") is None


def test_identity_types_gatehouse_does_not_manage_stay(rucio, rucio_client):
    uma = _person("uma-mixed")
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    rucio_client.identity_add(
        name="uma-mixed", type="GSS", identity="uma@EXAMPLE.ORG", email="uma@example.org"
    )
    identity_add(actor=None, account=uma, type="OIDC", identity=f"SUB=uma, ISS={ISSUER}")
    assert rucio_sync().outcome == SyncRun.Outcome.SUCCESS
    assert ("GSS", "uma@EXAMPLE.ORG") in _rucio_identities(rucio_client, "uma-mixed")
    assert Identity.objects.filter(account=uma).count() == 1


def test_the_connection_settings_never_show_the_password(settings):
    from accounts.rucio.client import RucioConfig

    settings.GATEHOUSE_RUCIO_URL = "https://rucio.example.org"
    settings.GATEHOUSE_RUCIO_USERNAME = "gatehouse"
    settings.GATEHOUSE_RUCIO_PASSWORD = "s3cret-pass"
    config = RucioConfig.from_settings()
    assert config.password == "s3cret-pass"
    assert "s3cret-pass" not in repr(config) and "s3cret-pass" not in str(config)
