"""What the portal knows about an inspected token: the answer to "may it do X on P?" that takes
the token's validity into account, the account behind its subject, and, for every storage path
it grants, the campaign that owns the path and whether that account may read it under the
embargo (campaigns.selectors.path_access, the one access rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from accounts.identities import oidc_identity
from accounts.models import Account, Identity
from accounts.selectors import identity_find
from accounts.storage_paths import PathRejected, path_covers, path_prefixes
from campaigns.models import Campaign
from campaigns.selectors import AccessDecision, path_access
from tokens.inspect import TokenReport
from tokens.inspection.checks import Status

CAMPAIGNS_SHOWN = 20  # per granted path; a token for "/" would otherwise list every campaign
FETCHED = 500  # campaigns read for one inspection, at most


@dataclass(frozen=True)
class PathAnswer:
    """May the token do `operation` on `path`: the scopes' answer only if the token is valid."""

    allowed: bool
    rule: str
    decided_by: str  # "token" (a failed check refuses everything) or "scope"


def path_answer(report: TokenReport, *, operation: str, path: str) -> PathAnswer | None:
    """The answer for the path box; None when nobody asked."""
    capabilities = report.capabilities
    if not operation or not path:
        return None
    failed = [c for c in report.inspection.checks if c.status is Status.FAIL]
    if failed:
        first = failed[0]
        more = f" (and {len(failed) - 1} more failed check{'s' if len(failed) > 2 else ''})"
        return PathAnswer(
            False,
            f"Refused before any scope is looked at: the {first.id} check failed — "
            f"{first.explanation}{more if len(failed) > 1 else ''}",
            "token",
        )
    if capabilities is None:
        return PathAnswer(False, "The token carries no scopes to decide from.", "scope")
    decision = capabilities.may(operation, path)
    return PathAnswer(decision.allowed, decision.rule, "scope")


@dataclass(frozen=True)
class CampaignPath:
    campaign: Campaign
    data_path: str  # the campaign's prefix that meets the granted path
    access: AccessDecision | None  # for the account behind `sub`; None when there is none
    wider_than_embargo: bool  # readable by this token, but the portal would not let its owner


@dataclass
class GrantedPath:
    path: str
    campaigns: list[CampaignPath] = field(default_factory=list)
    more: int = 0  # campaigns left off the list
    more_uncounted: bool = False  # and possibly more than that (the read stopped at FETCHED)


@dataclass
class PortalView:
    account: Account | None  # the account behind `sub`, if the identity is known here
    granted: list[GrantedPath]

    @property
    def warnings(self) -> list[CampaignPath]:
        return [c for g in self.granted for c in g.campaigns if c.wider_than_embargo]


def _account_for(report: TokenReport) -> Account | None:
    claims, issuer = report.inspection.claims or {}, report.inspection.issuer
    sub = claims.get("sub")
    if issuer is None or not isinstance(sub, str) or not sub:
        return None
    try:
        identity = identity_find(
            type=Identity.Type.OIDC, identity=oidc_identity(sub=sub, issuer=issuer.issuer)
        )
    except ValueError:
        return None
    return identity.account if identity is not None else None


def _readable_paths(report: TokenReport) -> list[str]:
    capabilities = report.capabilities
    if capabilities is None:
        return []
    return [row.path for row in capabilities.table() if row.cells["read"].allowed]


def _campaigns_meeting(paths: list[str]) -> tuple[list[Campaign], bool]:
    """In one query, the campaigns with a data path inside one of `paths` or holding one (found
    in the JSON text, re-checked as paths by the caller), by name, at most FETCHED; and whether
    there were more."""
    query = Q()
    for path in paths:
        inside = path.rstrip("/")
        query |= Q(data_paths__icontains=f'"{inside}/') | Q(data_paths__icontains=f'"{inside}"')
        for prefix in path_prefixes(path):
            query |= Q(data_paths__icontains=f'"{prefix}"') | Q(
                data_paths__icontains=f'"{prefix}/"'
            )
    found = list(
        Campaign.objects.filter(query).select_related("pi").order_by("slug")[: FETCHED + 1]
    )
    return found[:FETCHED], len(found) > FETCHED


def _meeting(path: str, campaign: Campaign) -> str | None:
    """The campaign's data path that lies inside `path` or holds it, if any."""
    return next(
        (p for p in campaign.data_paths if path_covers(path, p) or path_covers(p, path)), None
    )


def portal_view(report: TokenReport) -> PortalView | None:
    """The campaigns behind every path the token may read; None for a token with no issuer."""
    if report.inspection.issuer is None or report.inspection.claims is None:
        return None
    account = _account_for(report)
    paths = _readable_paths(report)
    campaigns, cut = _campaigns_meeting(paths) if paths else ([], False)
    granted = []
    for path in paths:
        row = GrantedPath(path)
        meeting = [(c, p) for c in campaigns if (p := _meeting(path, c)) is not None]
        for campaign, data_path in meeting[:CAMPAIGNS_SHOWN]:
            # The token reaches the whole campaign path, or only the part under `path`.
            checked = data_path if path_covers(path, data_path) else path
            try:
                access = path_access(path=checked, account=account)
            except PathRejected:
                continue
            row.campaigns.append(
                CampaignPath(
                    campaign=campaign,
                    data_path=data_path,
                    access=access if account is not None else None,
                    wider_than_embargo=not access.allowed,
                )
            )
        row.more = max(0, len(meeting) - CAMPAIGNS_SHOWN)
        row.more_uncounted = cut and len(meeting) >= CAMPAIGNS_SHOWN
        granted.append(row)
    return PortalView(account, granted)
