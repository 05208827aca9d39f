"""A running Gatehouse storage-token issuer for tests (contract in README.md next to this file)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone

from accounts.models import Account
from campaigns import services as campaign_services
from campaigns.models import Campaign
from tokens.issuer.keys import (
    active_signer,
    issuer_key_create,
    issuer_key_rotate,
    key_cache_time,
)
from tokens.issuer.services import Way, storage_token_issue
from tokens.models import IssuerKey, StorageElement
from tokens.policy import decide, forget_campaign_paths, parse_scopes


def embargoed_campaign(*, admin, pi, members=(), slug: str = "nightsky") -> Campaign:
    """`slug` (data under /data/<slug>) under a 30-day embargo, led by `pi`, with `members`
    approved: the campaign most storage-token tests read from."""
    campaign = campaign_services.campaign_create(
        slug=slug,
        title="Night Sky",
        pi=pi,
        actor=admin,
        data_paths=[f"/data/{slug}"],
        embargo_until=timezone.localdate() + timedelta(days=30),
    )
    for account in members:
        asked = campaign_services.membership_request(campaign=campaign, account=account)
        campaign_services.membership_approve(membership=asked, actor=pi)
    return campaign


@dataclass
class GatehouseIssuer:
    url: str

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/oauth/jwks"

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/oauth/token"

    def storage_element(
        self,
        name: str,
        *,
        audience: str,
        base_path: str = "/",
        tape: bool = False,
        max_lifetime: timedelta = timedelta(hours=6),
        endpoints: list[str] | tuple[str, ...] = (),
    ) -> StorageElement:
        element = StorageElement(
            name=name,
            audiences=[audience],
            base_path=base_path,
            tape=tape,
            max_lifetime=max_lifetime,
            endpoints=list(endpoints),
        )
        element.full_clean()
        element.save()
        return element

    def issue(
        self,
        *,
        account: Account,
        storage_element: StorageElement,
        scopes: str | list[str],
        lifetime: timedelta | None = None,
    ) -> str:
        """Through the policy: raises tokens.policy.Refused when the account may not."""
        grant = decide(
            account=account,
            storage_element=storage_element,
            scopes=parse_scopes(scopes),
            lifetime=lifetime,
        )
        return storage_token_issue(
            account=account, storage_element=storage_element, grant=grant, way=Way.TEST
        ).token

    def sign(self, claims: dict, *, headers: dict | None = None) -> str:
        """Exactly these claims, signed with the active key (no policy)."""
        signer = active_signer()
        if not headers:
            return signer.sign(claims)
        return jwt.encode(
            claims,
            signer.key,
            algorithm=signer.alg,
            headers={"kid": signer.kid, "typ": "at+jwt", **headers},
        )

    def let_storage_cache_the_next_key(self) -> None:
        """Stand in for waiting GATEHOUSE_ISSUER_KEY_CACHE seconds: date the next keys' publication
        back by that much (a storage verifier must really have fetched them meanwhile)."""
        IssuerKey.objects.filter(state=IssuerKey.State.NEXT).update(
            created=timezone.now() - key_cache_time() - timedelta(seconds=1)
        )

    def rotate(self) -> None:
        """issuer_key rotate, once the next key has been published for the key-cache time."""
        self.let_storage_cache_the_next_key()
        issuer_key_rotate()


@pytest.fixture(autouse=True)
def fresh_campaign_paths():
    """Flushing the database between tests sends no signals: forget the issuer's path cache."""
    forget_campaign_paths()


@pytest.fixture
def gatehouse_issuer_url(live_server) -> str:
    """Override (e.g. with an https:// proxy in front of the live server) where needed."""
    return live_server.url


@pytest.fixture
def gatehouse_issuer(gatehouse_issuer_url, live_server, settings, transactional_db):
    settings.SITE_URL = gatehouse_issuer_url.rstrip("/")
    settings.GATEHOUSE_ISSUER_AUDIENCE = settings.SITE_URL
    if not IssuerKey.objects.filter(state=IssuerKey.State.ACTIVE).exists():
        issuer_key_create()
    return GatehouseIssuer(settings.SITE_URL)
