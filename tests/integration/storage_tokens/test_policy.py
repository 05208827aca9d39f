"""The issuer's policy as a table: who asks for which scope, and what the policy answers (the
grant, or the rule that refused). The access rule underneath is campaigns' `path_access`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account
from accounts.services import account_create, account_suspend
from campaigns import services as campaign_services
from campaigns.models import Campaign, Membership
from tests.integration.storage_tokens.conftest import embargoed_campaign
from tokens.models import StorageElement
from tokens.policy import Refused, campaign_offers, decide, parse_scopes

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def world(admin, pi, manager, member, requester, outsider):
    nightsky = embargoed_campaign(admin=admin, pi=pi, members=[manager, member])
    campaign_services.manager_appoint(campaign=nightsky, account=manager, actor=pi)
    campaign_services.membership_request(campaign=nightsky, account=requester)
    campaign_services.campaign_create(
        slug="oldsky",
        title="Old Sky",
        pi=pi,
        actor=admin,
        data_paths=["/data/oldsky"],
        embargo_until=TODAY - timedelta(days=1),
    )
    gone = campaign_services.campaign_create(
        slug="gone", title="Gone", pi=pi, actor=admin, data_paths=["/data/gone"]
    )
    campaign_services.campaign_archive(campaign=gone, actor=admin)
    # A legacy conflict the campaign forms now refuse: /data/nights is a string prefix of
    # /data/nightsky, so XRootD would let storage.read:/nights open /nightsky too.
    nights_pi = account_create(name="nights-pi")
    Campaign.objects.create(
        slug="nights",
        title="Nights",
        pi=nights_pi,
        gid=99999,
        data_paths=["/data/nights"],
        embargo_until=TODAY + timedelta(days=30),
    )
    Membership.objects.create(
        account=nights_pi,
        campaign=Campaign.objects.get(slug="nights"),
        role=Membership.Role.PI,
        state=Membership.State.APPROVED,
    )
    element = StorageElement.objects.create(
        name="dcache",
        audiences=["https://dcache.example.org"],
        base_path="/data",
        tape_paths=["/data/nightsky/raw"],
        max_lifetime=timedelta(minutes=20),
    )
    return {
        "element": element,
        "people": {
            "pi": pi,
            "manager": manager,
            "member": member,
            "requester": requester,
            "outsider": outsider,
            "admin": admin,
            "nights-pi": nights_pi,
        },
    }


ALLOWED = None

TABLE = [
    # (who, scopes, None when granted or the rule that refuses)
    ("member", "storage.read:/nightsky", ALLOWED),
    ("member", "storage.read:/nightsky/run1/f.fits", ALLOWED),
    ("member", "storage.stage:/nightsky/raw/f.fits", ALLOWED),
    ("member", "storage.stage:/nightsky/run1", "not-tape"),
    ("member", "storage.create:/nightsky/new.fits", "writers-only"),
    ("member", "storage.modify:/nightsky/run1/f.fits", "writers-only"),
    ("member", "storage.read:/nightsky storage.create:/nightsky/x", "writers-only"),
    ("pi", "storage.read:/nightsky", ALLOWED),
    ("pi", "storage.create:/nightsky/upload", ALLOWED),
    ("pi", "storage.modify:/nightsky", ALLOWED),
    ("manager", "storage.modify:/nightsky/run1", ALLOWED),
    ("manager", "storage.create:/nightsky/upload", ALLOWED),
    ("requester", "storage.read:/nightsky", "embargo-not-member"),
    ("outsider", "storage.read:/nightsky/run1/f.fits", "embargo-not-member"),
    ("admin", "storage.read:/nightsky", "embargo-not-member"),  # admins use their own rights
    ("outsider", "storage.read:/oldsky/f.fits", ALLOWED),  # embargo over: every active account
    ("outsider", "storage.create:/oldsky/f.fits", "writers-only"),
    ("pi", "storage.create:/oldsky/f.fits", ALLOWED),
    ("pi", "storage.read:/gone", "campaign-archived"),
    ("member", "storage.read:/elsewhere", "no-campaign"),
    ("member", "storage.read:/", "no-campaign"),
    ("nights-pi", "storage.read:/nights", "would-open-other-campaign"),
    ("nights-pi", "storage.read:/nights/f.fits", ALLOWED),
    ("member", "storage.read:/nightsky/../oldsky", "path-unsafe"),
    ("member", "storage.read:/nightsky/%2e%2e/gone", "path-unsafe"),
    ("member", "storage.read:/nightsky//x", "path-unsafe"),
    ("member", "storage.read:nightsky", "scope-syntax"),
    ("member", "storage.read:", "scope-syntax"),
    ("member", "storage.poll:/nightsky", "scope-syntax"),
    ("member", "storage.read:/nightsky\n", "scope-syntax"),
    ("member", "openid", "scope-syntax"),
    ("member", "", "scope-missing"),
]


@pytest.mark.parametrize(("who", "scopes", "refused_by"), TABLE)
def test_policy_table(world, who, scopes, refused_by):
    account = world["people"][who]
    try:
        grant = decide(
            account=account, storage_element=world["element"], scopes=parse_scopes(scopes)
        )
    except Refused as refusal:
        assert refusal.rule == refused_by, refusal.message
        assert refusal.message.endswith((".", ")")), refusal.message
        return
    assert refused_by is ALLOWED, f"granted, expected refusal by {refused_by}"
    assert grant.scope == " ".join(scopes.split())  # exactly what was asked: never widened
    assert grant.lifetime == timedelta(minutes=20)
    assert len(grant.reasons) == len(grant.scopes)


def test_suspended_accounts_get_nothing(world, admin):
    member = world["people"]["member"]
    account_suspend(account=member, actor=admin, reason="left the institute")
    member = Account.objects.get(pk=member.pk)
    with pytest.raises(Refused) as refused:
        decide(
            account=member,
            storage_element=world["element"],
            scopes=parse_scopes("storage.read:/oldsky"),
        )
    assert refused.value.rule == "account-inactive"


def test_a_revoked_member_gets_nothing_more(world):
    member, pi = world["people"]["member"], world["people"]["pi"]
    membership = Membership.objects.get(account=member, state="approved")
    campaign_services.membership_revoke(membership=membership, actor=pi, comment="left")
    with pytest.raises(Refused) as refused:
        decide(
            account=member,
            storage_element=world["element"],
            scopes=parse_scopes("storage.read:/nightsky"),
        )
    assert refused.value.rule == "embargo-not-member"


def test_a_shorter_lifetime_is_granted_and_a_longer_one_refused(world):
    member, element = world["people"]["member"], world["element"]
    scopes = parse_scopes("storage.read:/nightsky")
    grant = decide(
        account=member, storage_element=element, scopes=scopes, lifetime=timedelta(minutes=5)
    )
    assert grant.lifetime == timedelta(minutes=5)
    with pytest.raises(Refused) as refused:
        decide(account=member, storage_element=element, scopes=scopes, lifetime=timedelta(hours=1))
    assert refused.value.rule == "lifetime"
    assert "20 minutes" in refused.value.message


def test_a_disabled_storage_element_issues_nothing(world):
    element = world["element"]
    element.enabled = False
    element.save()
    with pytest.raises(Refused) as refused:
        decide(
            account=world["people"]["pi"],
            storage_element=element,
            scopes=parse_scopes("storage.read:/nightsky"),
        )
    assert refused.value.rule == "storage-element-disabled"
    assert refused.value.error == "invalid_target"


def test_a_tape_element_offers_stage(world):
    element = world["element"]
    element.tape = True
    element.save()
    grant = decide(
        account=world["people"]["member"],
        storage_element=element,
        scopes=parse_scopes("storage.stage:/nightsky/run1"),
    )
    assert grant.scope == "storage.stage:/nightsky/run1"


@pytest.mark.parametrize(
    ("who", "operations"),
    [
        ("member", ("read",)),
        ("requester", ()),
        ("pi", ("read", "create", "modify")),
        ("manager", ("read", "create", "modify")),
        ("outsider", ()),
    ],
)
def test_campaign_offer_lists_what_the_panel_may_offer(world, who, operations):
    (offer,) = campaign_offers(
        account=world["people"][who],
        campaign=Campaign.objects.get(slug="nightsky"),
        storage_elements=[world["element"]],
    )
    assert offer.paths == ("/nightsky",)
    assert offer.operations == operations
    assert bool(offer.why_not) == (not operations)


def test_campaign_outside_the_elements_area_is_not_offered(world):
    element = StorageElement.objects.create(
        name="other", audiences=["https://other.example.org"], base_path="/elsewhere"
    )
    (offer,) = campaign_offers(
        account=world["people"]["member"],
        campaign=Campaign.objects.get(slug="nightsky"),
        storage_elements=[element],
    )
    assert offer.operations == () and "outside" in offer.why_not


def test_the_signer_checks_the_claims_a_second_time(world):
    """Even a grant that skipped the policy cannot put an unsafe scope into a token."""
    from tokens.issuer.keys import issuer_key_create
    from tokens.issuer.services import Way, storage_token_issue
    from tokens.policy import Grant, ScopeRequest

    issuer_key_create()
    for scope in (ScopeRequest("read", "/a/../b"), ScopeRequest("read", "/a b")):
        grant = Grant((scope,), timedelta(minutes=5), ("",))
        with pytest.raises(ValueError, match="Refusing"):
            storage_token_issue(
                account=world["people"]["member"],
                storage_element=world["element"],
                grant=grant,
                way=Way.TEST,
            )
    too_long = Grant((ScopeRequest("read", "/nightsky"),), timedelta(hours=7), ("",))
    with pytest.raises(ValueError, match="6 hours"):
        storage_token_issue(
            account=world["people"]["member"],
            storage_element=world["element"],
            grant=too_long,
            way=Way.TEST,
        )
