"""Reads for the Storage access panel, the list of storage tokens a person was issued, and the
token endpoint's storage element lookup."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from django.db.models import QuerySet

from accounts.models import Account
from accounts.prepared import PreparedQuery
from campaigns.models import Campaign
from tokens.models import IssuedToken, StorageElement
from tokens.policy import Offer, campaign_offers

# The token endpoint looks one up for every token: compiled to SQL once per process.
_STORAGE_ELEMENT_NAMED = PreparedQuery(
    lambda name: StorageElement.objects.filter(name=name).order_by(),  # names are unique
    generic_plan=True,
    name=str,
)


def storage_element_named(name: str) -> StorageElement | None:
    """The storage element called `name` (enabled or not: the policy says why not)."""
    found = _STORAGE_ELEMENT_NAMED(name=name)
    return found[0] if found else None


# ... and the campaign page for its Storage access panel.
_ENABLED_STORAGE_ELEMENTS = PreparedQuery(
    lambda: StorageElement.objects.filter(enabled=True).order_by("name"), generic_plan=True
)


def storage_offers(*, account: Account, campaign: Campaign) -> list[Offer]:
    """Per enabled storage element, what `account` may ask for on `campaign`'s data paths (no
    policy queries at all when no element is enabled)."""
    elements = _ENABLED_STORAGE_ELEMENTS()
    if not elements:
        return []
    return campaign_offers(account=account, campaign=campaign, storage_elements=elements)


def issued_tokens_for(*, account: Account) -> QuerySet[IssuedToken]:
    """The storage tokens minted for `account`, newest first (records only, never tokens)."""
    return (
        IssuedToken.objects.filter(account=account)
        .select_related("storage_element", "client")
        .order_by("-issued_at")
    )


@dataclass(frozen=True)
class HowTo:
    label: str
    command: str


def _endpoint(element: StorageElement, schemes: tuple[str, ...]) -> str | None:
    return next((url for url in element.endpoints if urlsplit(url).scheme in schemes), None)


def download_commands(*, element: StorageElement, path: str) -> list[HowTo]:
    """Copyable commands that read storage path `path` at `element` with $BEARER_TOKEN.

    curl and davix send the header themselves; xrdcp (XrdCl) and gfal-copy (gfal2) read the
    BEARER_TOKEN environment variable (WLCG bearer token discovery).
    """
    quoted_path = quote(path)
    https = _endpoint(element, ("https", "davs"))
    root = _endpoint(element, ("root", "roots"))
    found = []
    if https:
        url = https.rstrip("/") + quoted_path
        web = "https" + url[url.index("://") :]
        found += [
            HowTo(
                "curl",
                f'curl -fL -H "Authorization: Bearer $BEARER_TOKEN" -O {shlex.quote(web)}',
            ),
            HowTo(
                "davix",
                f'davix-get -H "Authorization: Bearer $BEARER_TOKEN" {shlex.quote(web)} '
                f"{shlex.quote(path.rsplit('/', 1)[-1] or 'data')}",
            ),
            HowTo(
                "gfal-copy",
                f"gfal-copy {shlex.quote('davs' + url[url.index('://') :])} file://$PWD/",
            ),
        ]
    xroot = root.rstrip("/") + "/" + quoted_path if root else (web if https else None)
    if xroot:
        found.append(HowTo("xrdcp", f"xrdcp {shlex.quote(xroot)} ./"))
    return found
