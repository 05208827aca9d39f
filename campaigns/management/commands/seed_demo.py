"""Demo data for `make run`: people matching the dev IdP's users, four campaigns, memberships.

Idempotent: accounts, identities and campaigns that exist already are left as they are.
"""

import datetime
import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Account, Identity
from accounts.services import account_create, account_promote
from campaigns import services
from campaigns.models import Campaign

QUIET_MAIL = "django.core.mail.backends.dummy.EmailBackend"
DEMO_JSON = Path(os.getenv("GATEHOUSE_DEMO_IDP_CONFIG", settings.BASE_DIR / "devidp" / "demo.json"))
PEOPLE = {
    "alice": ("Alice Archer", "alice@example.org"),
    "bob": ("Bob Baker", "bob@example.org"),
    "carol": ("Carol Cooper", "carol@example.org"),
    "dave": ("Dave Dawson", "dave@example.org"),
    "ada": ("Ada Admin", "ada@example.org"),
}
ADMINS = ["ada"]  # the demo's data-centre admin, made one the way README says: account promote


def _idp_users() -> tuple[str, dict[str, dict]]:
    """The dev IdP's issuer and its demo users by username (empty when the file is missing)."""
    try:
        demo = json.loads(DEMO_JSON.read_text())
    except FileNotFoundError:
        return "", {}
    return demo["issuer"], {u["username"]: u for u in demo.get("users", [])}


def _campaigns(today: datetime.date) -> list[dict]:
    return [
        {
            "slug": "nightsky-2025",
            "title": "Night Sky Survey 2025",
            "description": (
                "Wide-field imaging of the northern sky, 412 nights. Raw frames, calibrated "
                "mosaics and source catalogues.\n\nThe data stay with the survey team until the "
                "embargo ends; quick-look images are public on the survey site."
            ),
            "pi": "alice",
            "embargo_until": datetime.date(today.year + 1, 6, 30),
            "data_paths": ["/data/nightsky-2025", "/tape/nightsky-2025"],
            "members": {
                "bob": ("approved", None),
                "carol": ("requested", "PhD student of Bob; I work on the variable-star pipeline."),
                "dave": ("approved", today + datetime.timedelta(days=10)),
            },
            "managers": ["bob"],
        },
        {
            "slug": "solar-2023",
            "title": "Solar Flare Campaign 2023",
            "description": "Radio and X-ray observations of 38 solar flares. Public since 2024.",
            "pi": "bob",
            "embargo_until": datetime.date(2024, 1, 31),
            "data_paths": ["/data/solar-2023"],
            "members": {"alice": ("approved", None), "dave": ("rejected", "")},
        },
        {
            "slug": "radio-transients",
            "title": "Fast Radio Transients",
            "description": "A blind search for fast radio bursts with the low-frequency array.",
            "pi": "bob",
            "embargo_until": today + datetime.timedelta(days=90),
            "data_paths": ["/data/radio-transients"],
            "members": {"carol": ("approved", today + datetime.timedelta(days=60))},
        },
        {
            "slug": "calibration",
            "title": "Instrument Calibration Library",
            "description": "Flat fields, darks and bias frames shared by every campaign.",
            "pi": "carol",
            "embargo_until": None,
            "data_paths": ["/data/calibration"],
            "members": {"alice": ("withdrawn", ""), "bob": ("approved", None)},
        },
    ]


class Command(BaseCommand):
    help = "Create demo accounts, identities, campaigns and memberships (idempotent)."

    def handle(self, *args, **options):
        issuer, idp_users = _idp_users()
        people = {}
        for name, (display_name, email) in PEOPLE.items():
            account = Account.objects.filter(name=name).first()
            if account is None:
                account = account_create(name=name, email=email, display_name=display_name)
                self.stdout.write(f"account {name} (uid {account.uid})")
            people[name] = account
            user = idp_users.get(name)
            if user:
                self._identity(account, f"SUB={user['sub']}, ISS={issuer}", user.get("email", ""))
        for name in ADMINS:
            if not people[name].is_admin:
                account_promote(account=people[name], actor=None, reason="demo admin")
                self.stdout.write(f"admin {name}")
        today = timezone.localdate()
        # The demo's requests and decisions would otherwise mail (print) a dozen messages.
        with override_settings(MAILERS={"default": {"BACKEND": QUIET_MAIL}}):
            for spec in _campaigns(today):
                if not Campaign.objects.filter(slug=spec["slug"]).exists():
                    self._campaign(spec, people)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _identity(self, account: Account, identity: str, email: str) -> None:
        from accounts.idps import provider_for_issuer

        if Identity.objects.filter(type=Identity.Type.OIDC, identity=identity).exists():
            return
        provider = provider_for_issuer(identity.split("ISS=", 1)[1])
        row = Identity(
            type=Identity.Type.OIDC,
            identity=identity,
            account=account,
            email=email,
            source=Identity.Source.MANUAL,
            idp=provider.nickname if provider else "",
        )
        row.full_clean()
        row.save()
        self.stdout.write(f"identity {identity} -> {account.name}")

    @transaction.atomic
    def _campaign(self, spec: dict, people: dict[str, Account]) -> None:
        pi = people[spec["pi"]]
        campaign = services.campaign_create(
            slug=spec["slug"],
            title=spec["title"],
            description=spec["description"],
            pi=pi,
            embargo_until=spec["embargo_until"],
            data_paths=spec["data_paths"],
            actor=None,
            comment="demo data",
        )
        for name, (state, extra) in spec["members"].items():
            account = people[name]
            request = services.membership_request(
                campaign=campaign,
                account=account,
                message=extra if state == "requested" else "",
            )
            if state == "approved":
                services.membership_approve(
                    membership=request, actor=pi, valid_until=extra, comment="demo data"
                )
            elif state == "rejected":
                services.membership_reject(
                    membership=request, actor=pi, reason="Please ask again with your project."
                )
            elif state == "withdrawn":
                services.membership_withdraw(membership=request, actor=account)
        for name in spec.get("managers", []):
            services.manager_appoint(campaign=campaign, account=people[name], actor=pi)
        self.stdout.write(f"campaign {campaign.slug} (gid {campaign.gid})")
