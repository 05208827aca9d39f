"""A small fixed data set for the exports, built with the ORM and the account service.

Creation order fixes the uids (from GATEHOUSE_UID_MIN) and gids (from GATEHOUSE_GID_MIN), so the
golden files in tests/golden/ stay valid; add new rows at the end.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts import idps
from accounts.models import Account, Identity
from accounts.services import account_create, posix_id_allocate
from campaigns.models import Campaign, Membership
from campaigns.services import node_token_create

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
IAM = "https://iam.example.org/"
CERN = "https://auth.cern.ch/auth/realms/cern"


@pytest.fixture
def providers(settings, tmp_path):
    """Two configured providers: IAM with op_alias "escape", CERN without (alias = nickname)."""
    path = tmp_path / "idpsecrets.json"
    path.write_text(
        json.dumps(
            {
                "iam": {
                    "issuer": IAM,
                    "client_id": "gatehouse",
                    "client_secret": "not-a-secret",
                    "redirect_uris": ["http://127.0.0.1/oidc/callback/"],
                    "op_alias": "escape",
                },
                "cern": {
                    "issuer": CERN,
                    "client_id": "gatehouse",
                    "client_secret": "not-a-secret",
                    "redirect_uris": ["http://127.0.0.1/oidc/callback/"],
                },
            }
        )
    )
    settings.GATEHOUSE_IDPSECRETS = str(path)
    idps._load.cache_clear()
    yield
    idps._load.cache_clear()


@pytest.fixture
def export_settings(settings, providers):
    settings.GATEHOUSE_EXPORT_HOME = "/home/{name}"
    settings.GATEHOUSE_EXPORT_SHELL = "/sbin/nologin"
    settings.GATEHOUSE_EXPORT_PRIVATE_GROUPS = True
    settings.GATEHOUSE_LDAP_BASE_DN = "dc=gatehouse,dc=example"
    settings.GATEHOUSE_EXPORT_MAX_DROP = 0.2
    settings.GATEHOUSE_EXPORT_ETAG_CACHE_SECONDS = 0
    return settings


@dataclass
class ExportData:
    jdoe: Account
    asmith: Account
    mueller: Account
    boneil: Account
    suspended: Account
    lapsed: Account
    camp_a: Campaign
    camp_b: Campaign
    archived: Campaign
    alee: Account | None = None
    lead: Account | None = None
    juergen: Account | None = None
    pat: Account | None = None

    def membership(self, account: Account, campaign: Campaign) -> Membership:
        return Membership.objects.get(
            account=account, campaign=campaign, state__in=Membership.OPEN_STATES
        )


def _identity(account: Account, type: str, identity: str) -> None:
    Identity.objects.create(account=account, type=type, identity=identity)


def _campaign(slug: str, title: str, pi: Account, **extra) -> Campaign:
    campaign = Campaign(slug=slug, title=title, pi=pi, gid=posix_id_allocate(kind="gid"), **extra)
    campaign.full_clean()
    campaign.save()
    return campaign


def _member(account: Account, campaign: Campaign, state=Membership.State.APPROVED, **extra):
    return Membership.objects.create(account=account, campaign=campaign, state=state, **extra)


@pytest.fixture
def export_data(db, export_settings) -> ExportData:
    today = timezone.localdate()
    jdoe = account_create(name="jdoe", email="jdoe@example.org", display_name="Jane Doe")
    asmith = account_create(
        name="asmith", email="asmith@example.org", display_name="Smith, Alice: PI"
    )
    mueller = account_create(
        name="mueller", email="mueller@example.org", display_name="Jürgen Müller"
    )
    boneil = account_create(name="boneil", display_name='Bob "B" O\'Neil')
    suspended = account_create(name="suspended", display_name="Sam Suspended")
    lapsed = account_create(name="lapsed", display_name="Lee Lapsed")
    Account.objects.filter(pk=suspended.pk).update(status=Account.Status.SUSPENDED)
    # No uid: a service account made outside the account service never reaches the nodes.
    Account.objects.create(name="svc-nouid", type=Account.Type.SERVICE, display_name="No uid")

    _identity(jdoe, Identity.Type.X509, "/C=DE/O=GermanGrid/OU=DESY/CN=Jane Doe")
    _identity(jdoe, Identity.Type.OIDC, f"SUB=a1b2c3d4-0001, ISS={IAM}")
    # RFC 2253 "CN=Alice Smith,O=Example\, Inc.,C=DE": the escaped comma is plain in slash form.
    _identity(asmith, Identity.Type.X509, "/C=DE/O=Example, Inc./CN=Alice Smith")
    _identity(asmith, Identity.Type.OIDC, f"SUB=asmith, ISS={CERN}")
    _identity(mueller, Identity.Type.X509, "/C=DE/O=Universität Hamburg/CN=Jürgen Müller")
    _identity(mueller, Identity.Type.OIDC, "SUB=9f8e, ISS=https://unknown.example.net/")
    _identity(boneil, Identity.Type.X509, '/DC=org/DC=example/CN=Bob "B" O\'Neil\\, Jr.')
    _identity(boneil, Identity.Type.OIDC, "not a rucio oidc identity")
    _identity(boneil, Identity.Type.SSH, "ssh-ed25519 AAAAC3Nza boneil@laptop")
    _identity(suspended, Identity.Type.X509, "/C=DE/O=GermanGrid/CN=Sam Suspended")
    _identity(lapsed, Identity.Type.X509, "/C=DE/O=GermanGrid/CN=Lee Lapsed")

    camp_a = _campaign("camp-2025a", "Deep field 2025 (Å survey)", jdoe)
    camp_b = _campaign("camp-2025b", "Calibration", asmith)
    archived = _campaign("old-camp", "Archived campaign", jdoe, status=Campaign.Status.ARCHIVED)

    _member(jdoe, camp_a, role=Membership.Role.PI)
    _member(mueller, camp_a, valid_until=today + timedelta(days=10))
    _member(asmith, camp_a, valid_until=today)  # last day still counts
    _member(boneil, camp_a)
    _member(asmith, camp_b, role=Membership.Role.PI)
    _member(suspended, camp_a)
    _member(lapsed, camp_a, valid_until=today - timedelta(days=1))  # not yet moved to expired
    _member(lapsed, camp_b, state=Membership.State.EXPIRED)
    _member(jdoe, camp_b, state=Membership.State.REVOKED)
    _member(mueller, camp_b, state=Membership.State.REQUESTED)
    _member(jdoe, archived)

    # The cases dCache, slapd and shadow-utils once read differently from Gatehouse (issue 10).
    alee = account_create(name="alee", email="alee@example.org", display_name="Ann Lee")
    # A multi-valued RDN (canl writes UID before CN) and a value holding a real backslash.
    _identity(alee, Identity.Type.X509, "/C=DE/O=Example/UID=alee+CN=Ann Lee")
    _identity(alee, Identity.Type.X509, "/C=DE/O=Example/CN=Ann\\\\Lee")
    # Rucio allowed a leading '-'; an account made then is left out of passwd, group and LDIF.
    lead = Account.objects.create(
        name="-lead", display_name="Lead Dash", uid=posix_id_allocate(kind="uid")
    )
    _identity(lead, Identity.Type.OIDC, f"SUB=lead-0001, ISS={IAM}")
    juergen = account_create(
        name="juergen", email="juergen@müller.example", display_name="Jürgen Ä. Weiß"
    )
    pat = account_create(name="pat", display_name="Pat Example")
    _identity(pat, Identity.Type.OIDC, f"SUB=pat@iam, ISS={CERN}")
    _member(lead, camp_a)
    _member(juergen, camp_b)
    _member(alee, camp_b)
    # Storage-token subjects from the uid, so the golden files stay the same run to run.
    for account in Account.objects.filter(uid__isnull=False):
        Account.objects.filter(pk=account.pk).update(token_subject=uuid.UUID(int=account.uid))
    return ExportData(
        jdoe,
        asmith,
        mueller,
        boneil,
        suspended,
        lapsed,
        camp_a,
        camp_b,
        archived,
        alee=alee,
        lead=lead,
        juergen=juergen,
        pat=pat,
    )


@pytest.fixture
def node_secret(db) -> str:
    return node_token_create(name="dcache-door-1")[1]
