"""What people may read: campaigns (POSIX groups), memberships, and storage-node access."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.indexes import PostgresOnlyGinIndex
from accounts.storage_paths import PathRejected, path_normalise

CAMPAIGN_SLUG_RE = r"\A[a-z_][a-z0-9_-]{0,31}\Z"  # \Z: `$` lets a final newline in
campaign_slug_validator = RegexValidator(
    CAMPAIGN_SLUG_RE,
    "Use a POSIX group name: start with a lowercase letter or '_', then up to 31 lowercase "
    "letters, digits, '-' or '_'.",
)


def validate_data_paths(value) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("Data paths must be a list of absolute paths.")
    for path in value:
        if not path.isprintable():  # control characters, line breaks, lone surrogates
            raise ValidationError(
                f"{path!r} contains a control character or a broken character: "
                "write the path in plain printable characters."
            )
        try:
            path_normalise(path)
        except PathRejected as exc:
            raise ValidationError(f"{exc}.") from None


class Campaign(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        ARCHIVED = "archived", "archived"

    slug = models.CharField(
        max_length=32, unique=True, validators=[campaign_slug_validator], help_text="Group name."
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    pi = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaigns_led"
    )
    gid = models.PositiveBigIntegerField(unique=True, editable=False)
    embargo_until = models.DateField(
        null=True, blank=True, help_text="Data readable by members only until this day."
    )
    data_paths = models.JSONField(default=list, blank=True, validators=[validate_data_paths])
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    idp_group = models.ForeignKey(
        "accounts.IdpGroup",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
        help_text="Members of this IdP group become members (SCIM sync).",
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        indexes = [
            models.Index(fields=["status", "embargo_until"]),
            # `data_paths ?| array[...]` (jsonb_ops, the default operator class: jsonb_path_ops
            # has no `?|`), which "who can read this path" asks for every path it checks, all
            # its prefixes at once; SQLite needs none at its sizes.
            PostgresOnlyGinIndex(fields=["data_paths"], name="campaign_data_paths_gin"),
        ]

    def __str__(self) -> str:
        return self.slug

    def is_under_embargo(self, today=None) -> bool:
        today = today or timezone.localdate()
        return self.embargo_until is not None and today < self.embargo_until


class Membership(models.Model):
    """An account in a campaign, from request to end. Old rows stay as history."""

    class Role(models.TextChoices):
        PI = "pi", "PI"
        MANAGER = "manager", "manager"
        MEMBER = "member", "member"

    class State(models.TextChoices):
        REQUESTED = "requested", "requested"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        WITHDRAWN = "withdrawn", "withdrawn"
        REVOKED = "revoked", "revoked"
        EXPIRED = "expired", "expired"
        LEFT = "left", "left"  # the member ended it themselves

    class Source(models.TextChoices):
        PORTAL = "portal", "portal"
        SCIM = "scim", "SCIM"

    OPEN_STATES = (State.REQUESTED, State.APPROVED)

    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=7, choices=Role.choices, default=Role.MEMBER)
    state = models.CharField(max_length=9, choices=State.choices, default=State.REQUESTED)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.PORTAL)
    request_message = models.TextField(blank=True)
    valid_until = models.DateField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    reminder_14d_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_1d_sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "account"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "campaign"],
                condition=models.Q(state__in=["requested", "approved"]),
                name="membership_one_open_per_account_campaign",
            )
        ]
        indexes = [
            # Covers counting a campaign's current members from the index alone, and, with the
            # columns it includes, reading a page of its member list (the member rows come
            # from the index, only their accounts from the table).
            models.Index(
                fields=["campaign", "state", "valid_until", "account"],
                include=["role", "decided_at", "id"],
                name="membership_campaign_current",
            ),
            models.Index(fields=["account", "state"]),
            models.Index(fields=["state", "valid_until"]),
            # A campaign's appointed managers (its page lists them) without reading every member.
            models.Index(
                fields=["campaign"],
                condition=models.Q(role="manager", state="approved"),
                name="membership_campaign_managers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.campaign_id} ({self.state})"


class NodeToken(models.Model):
    """A storage node's credential for fetching the mapping exports; only its hash is kept.

    `revoked_at` is when the token stops working: empty while active, in the future while a
    rotated-out token is still honoured for its grace period. A name belongs to at most one
    token that is not revoked; revoked names can be used again."""

    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(revoked_at__isnull=True),
                name="nodetoken_one_active_per_name",
                violation_error_message=(
                    "A node token with this name is active: choose another name, or rotate it."
                ),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def state(self, now=None) -> str:
        """active, grace (rotated out, still honoured until revoked_at) or revoked."""
        if self.revoked_at is None:
            return "active"
        return "grace" if self.revoked_at > (now or timezone.now()) else "revoked"


class CampaignRequest(models.Model):
    """A scientist asks for a new campaign; an admin approves (creating it, with the requester
    as PI) or rejects it with a reason."""

    class State(models.TextChoices):
        PENDING = "pending", "waiting for approval"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="campaign_requests"
    )
    slug = models.CharField(max_length=32, validators=[campaign_slug_validator])
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    embargo_until = models.DateField(null=True, blank=True)
    data_paths = models.JSONField(default=list, blank=True, validators=[validate_data_paths])
    reason = models.TextField(help_text="Why the campaign is needed, for the admins.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=models.Q(state="pending"),
                name="campaignrequest_one_pending_per_slug",
                violation_error_message="Someone already asked for a campaign with this name.",
            )
        ]

    def __str__(self) -> str:
        return f"request for {self.slug} by {self.requester_id}"
