"""Requests for new campaigns: a scientist asks, an admin approves (the campaign is created with
the requester as PI, through campaign_create) or rejects with a reason; both sides are mailed."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from accounts.services import audit_record
from campaigns import notifications
from campaigns.models import Campaign, CampaignRequest
from campaigns.services.campaign import campaign_create, data_paths_clean
from campaigns.services.rules import RESERVED_SLUGS, require_active_account, require_admin


def _slug_free(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"{slug!r} is reserved for a page of the portal."})
    if Campaign.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A campaign named {slug!r} exists: choose another name."})
    if CampaignRequest.objects.filter(slug=slug, state=CampaignRequest.State.PENDING).exists():
        raise ValidationError(
            {"slug": f"Someone already asked for a campaign named {slug!r}: choose another name."}
        )


@transaction.atomic
def campaign_request_create(
    *,
    requester: Account,
    slug: str,
    title: str,
    reason: str,
    description: str = "",
    embargo_until: datetime.date | None = None,
    data_paths: list[str] | None = None,
) -> CampaignRequest:
    """A scientist asks for a new campaign; the admins are mailed."""
    require_active_account(requester)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the campaign is needed, for the admins."})
    _slug_free(slug)
    request = CampaignRequest(
        requester=requester,
        slug=slug,
        title=title.strip(),
        description=description.strip(),
        embargo_until=embargo_until,
        data_paths=data_paths_clean(data_paths or []),
        reason=reason.strip(),
    )
    request.full_clean()
    request.save()
    audit_record(
        action="campaign_request.create",
        actor=requester,
        account=requester,
        target=f"campaign:{slug}",
        detail={"request": request.pk},
    )
    notifications.campaign_request_new(request)
    return request


def _pending(request: CampaignRequest) -> CampaignRequest:
    locked = (
        CampaignRequest.objects.select_for_update(of=("self",))
        .select_related("requester")
        .get(pk=request.pk)
    )
    if locked.state != CampaignRequest.State.PENDING:
        raise ValidationError(
            f"This request was already {locked.get_state_display()}; reload the list."
        )
    return locked


@transaction.atomic
def campaign_request_approve(
    *, request: CampaignRequest, actor: Account, comment: str = ""
) -> Campaign:
    """Create the campaign as asked, with the requester as its PI; mail the requester."""
    require_admin(actor, "approve campaign requests")
    locked = _pending(request)
    campaign = campaign_create(
        slug=locked.slug,
        title=locked.title,
        description=locked.description,
        pi=locked.requester,
        embargo_until=locked.embargo_until,
        data_paths=locked.data_paths,
        actor=actor,
        comment=comment or f"campaign request {locked.pk}",
    )
    locked.state = CampaignRequest.State.APPROVED
    locked.decided_by, locked.decided_at = actor, timezone.now()
    locked.decision_reason = comment.strip()
    locked.campaign = campaign
    locked.full_clean()
    locked.save()
    audit_record(
        action="campaign_request.approve",
        actor=actor,
        account=locked.requester,
        target=f"campaign:{campaign.slug}",
        detail={"request": locked.pk},
    )
    notifications.campaign_request_decision(locked)
    return campaign


@transaction.atomic
def campaign_request_reject(
    *, request: CampaignRequest, actor: Account, reason: str
) -> CampaignRequest:
    """Refuse a campaign request; the reason goes to the requester."""
    require_admin(actor, "reject campaign requests")
    if not reason.strip():
        raise ValidationError({"reason": "Say why, in a sentence the requester will read."})
    locked = _pending(request)
    locked.state = CampaignRequest.State.REJECTED
    locked.decided_by, locked.decided_at = actor, timezone.now()
    locked.decision_reason = reason.strip()
    locked.full_clean()
    locked.save()
    audit_record(
        action="campaign_request.reject",
        actor=actor,
        account=locked.requester,
        target=f"campaign:{locked.slug}",
        comment=locked.decision_reason,
        detail={"request": locked.pk},
    )
    notifications.campaign_request_decision(locked)
    return locked
