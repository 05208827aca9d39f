"""Admin pages for campaigns and memberships. Every change goes through the services.

NodeToken's admin belongs to the exports (export helper).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.utils import timezone

from campaigns import services
from campaigns.exports import admin as exports_admin  # noqa: F401  (registers NodeToken)
from campaigns.forms import DataPathsField
from campaigns.models import Campaign, CampaignRequest, Membership
from campaigns.selectors import data_path_conflicts


class EmbargoFilter(admin.SimpleListFilter):
    title = "embargo"
    parameter_name = "embargo"

    def lookups(self, request, model_admin):
        return [("under", "under embargo"), ("public", "public")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "under":
            return queryset.filter(embargo_until__gt=today)
        if self.value() == "public":
            return queryset.filter(Q(embargo_until__isnull=True) | Q(embargo_until__lte=today))
        return queryset


class CampaignAdminForm(forms.ModelForm):
    data_paths = DataPathsField(label="Data paths")
    comment = forms.CharField(
        required=False, help_text="Why (kept in the audit log with your name)."
    )
    move_data_paths = forms.BooleanField(
        required=False,
        label="Move data paths here",
        help_text="Take listed paths that another campaign holds exactly (audited).",
    )

    class Meta:
        model = Campaign
        fields = [
            "slug",
            "title",
            "description",
            "pi",
            "embargo_until",
            "data_paths",
            "idp_group",
        ]
        labels = {"pi": "PI"}

    def clean(self):
        data = super().clean()
        paths = services.data_paths_clean(data.get("data_paths") or [])
        conflicts = data_path_conflicts(paths, exclude=self.instance)
        if data.get("move_data_paths"):
            conflicts = [c for c in conflicts if not self.movable(c)]
        if conflicts:
            self.add_error("data_paths", [c.sentence for c in conflicts])
        return data

    @staticmethod
    def movable(conflict) -> bool:
        return conflict.clash == "is the same path as"

    def paths_to_move(self) -> list[str]:
        """Paths another campaign holds exactly, when the admin asked to move them here."""
        if not self.cleaned_data.get("move_data_paths"):
            return []
        paths = services.data_paths_clean(self.cleaned_data.get("data_paths") or [])
        found = data_path_conflicts(paths, exclude=self.instance)
        return sorted({c.path for c in found if self.movable(c)})

    def clean_pi(self):
        pi = self.cleaned_data["pi"]
        if pi is not None and not pi.is_active:
            raise ValidationError(
                f"{pi.name} is {pi.get_status_display()}: pick an active account."
            )
        return pi


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "slug",
        "title",
        "pi_name",
        "gid",
        "embargo_until",
        "status",
        "approved_members",
        "waiting_requests",
    ]
    list_filter = ["status", EmbargoFilter]
    search_fields = ["slug", "title", "pi__name", "pi__email"]
    list_select_related = ["pi"]
    autocomplete_fields = ["pi"]  # shows the PI by name, searchable, not a raw id
    readonly_fields = ["gid", "status", "created", "updated"]
    actions = ["archive_selected"]
    date_hierarchy = "created"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_approved=Count("memberships", filter=Q(memberships__state="approved")),
                n_requested=Count("memberships", filter=Q(memberships__state="requested")),
            )
        )

    @admin.display(description="PI", ordering="pi__name")
    def pi_name(self, obj) -> str:
        return f"{obj.pi.get_full_name()} ({obj.pi.name})"

    @admin.display(description="members", ordering="n_approved")
    def approved_members(self, obj) -> int:
        return obj.n_approved

    @admin.display(description="requests", ordering="n_requested")
    def waiting_requests(self, obj) -> int:
        return obj.n_requested

    def get_readonly_fields(self, request, obj=None):
        # The slug is the POSIX group name: fixed once the storage knows it.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data, comment = form.cleaned_data, form.cleaned_data.get("comment", "")
        moving = form.paths_to_move()
        if not change:
            created = services.campaign_create(
                slug=data["slug"],
                title=data["title"],
                description=data["description"],
                pi=data["pi"],
                embargo_until=data["embargo_until"],
                data_paths=[
                    p for p in services.data_paths_clean(data["data_paths"]) if p not in moving
                ],
                actor=request.user,
                comment=comment,
            )
            obj.pk, obj.gid = created.pk, created.gid
            for path in moving:
                services.campaign_move_data_path(
                    path=path, to=created, actor=request.user, comment=comment
                )
            if data.get("idp_group"):
                services.campaign_set_idp_group(
                    campaign=created,
                    idp_group=data["idp_group"],
                    actor=request.user,
                    comment=comment,
                )
            return
        original = Campaign.objects.get(pk=obj.pk)
        if "pi" in form.changed_data:
            services.campaign_set_pi(
                campaign=original, pi=data["pi"], actor=request.user, comment=comment
            )
        if "embargo_until" in form.changed_data:
            services.campaign_update_embargo(
                campaign=original,
                embargo_until=data["embargo_until"],
                actor=request.user,
                comment=comment,
            )
        for path in moving:
            services.campaign_move_data_path(
                path=path, to=original, actor=request.user, comment=comment
            )
        if "data_paths" in form.changed_data:
            services.campaign_update_data_paths(
                campaign=original,
                data_paths=data["data_paths"],
                actor=request.user,
                comment=comment,
            )
        if {"title", "description"} & set(form.changed_data):
            services.campaign_update_details(
                campaign=original,
                title=data["title"],
                description=data["description"],
                actor=request.user,
                comment=comment,
            )
        if "idp_group" in form.changed_data:
            services.campaign_set_idp_group(
                campaign=original, idp_group=data["idp_group"], actor=request.user, comment=comment
            )

    def has_delete_permission(self, request, obj=None):
        return False  # GIDs are never reused: archive instead

    @admin.action(description="Archive the selected campaigns (no new members)")
    def archive_selected(self, request, queryset):
        done = 0
        for campaign in queryset:
            try:
                services.campaign_archive(
                    campaign=campaign, actor=request.user, comment="archived in admin"
                )
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{campaign.slug}: {exc}", messages.WARNING)
        self.message_user(request, f"Archived {done} campaign(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Read-only history; decisions are made on the campaign's manage page or by these actions."""

    list_display = [
        "campaign",
        "account",
        "role",
        "state",
        "valid_until",
        "decided_by",
        "decided_at",
        "source",
    ]
    list_filter = ["state", "role", "source", "campaign__status"]
    search_fields = ["account__name", "account__email", "campaign__slug"]
    list_select_related = ["campaign", "account", "decided_by"]
    date_hierarchy = "created"
    actions = ["approve_selected", "revoke_selected"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, step, verb: str) -> None:
        done = 0
        for membership in queryset:
            try:
                step(membership=membership, actor=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                text = " ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, text, messages.WARNING)
        self.message_user(request, f"{verb} {done} membership(s).", messages.SUCCESS)

    @admin.action(description="Approve the selected requests")
    def approve_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda **kw: services.membership_approve(comment="approved in admin", **kw),
            "Approved",
        )

    @admin.action(description="Revoke the selected memberships")
    def revoke_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda **kw: services.membership_revoke(comment="revoked in admin", **kw),
            "Revoked",
        )


@admin.register(CampaignRequest)
class CampaignRequestAdmin(admin.ModelAdmin):
    """Read-only: requests are made and decided in the portal (Campaigns → Campaign requests),
    where approving goes through campaign_create."""

    list_display = ["slug", "title", "requester_name", "state", "created", "decided_by"]
    list_filter = ["state"]
    search_fields = ["slug", "title", "requester__name"]
    list_select_related = ["requester", "decided_by"]

    @admin.display(description="requester", ordering="requester__name")
    def requester_name(self, obj) -> str:
        return f"{obj.requester.get_full_name()} ({obj.requester.name})"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
