"""Admin pages for accounts, identities, tokens and the records sync and audit keep.

Writes that have a service go through it (account creation, suspension, identities), so the
admin leaves the same audit trail as the pages and commands. Token values are never shown.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from accounts.http import client_ip
from accounts.identities import normalise_identity
from accounts.models import Account, AuditEvent, Identity, IdpGroup, Registration, SyncRun
from accounts.rucio.selectors import rucio_state_of
from accounts.selectors import identity_find
from accounts.services import (
    account_create,
    account_reactivate,
    account_set_email,
    account_suspend,
    audit_record,
    identity_add,
    identity_remove,
)

admin.site.site_header = "Gatehouse administration"
admin.site.site_title = "Gatehouse admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records other parts of the system own: look, search and filter, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class IdentityInline(admin.TabularInline):
    model = Identity
    fields = ["type", "identity", "source", "idp", "created"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class AccountAddForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = ["name", "type", "email", "display_name", "is_staff"]


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept with each account and in the audit log.",
    )


RIGHT_FLAGS = ("is_staff", "is_superuser")
RIGHT_SETS = ("groups", "user_permissions")


def _names(related) -> set[str]:
    return {str(item) for item in related.all()}


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "status", "email", "uid", "rucio", "is_staff", "created"]
    list_filter = ["type", "status", "is_staff"]
    search_fields = ["name", "email", "display_name", "identities__identity"]
    ordering = ["name"]
    readonly_fields = [
        "uid",
        "status",
        "status_reason",
        "rucio",
        "created",
        "updated",
        "last_login",
    ]
    fieldsets = [
        (None, {"fields": ["name", "display_name", "email", "type"]}),
        ("Status", {"fields": ["status", "status_reason", "uid", "rucio", "created", "updated"]}),
        (
            "Admin rights",
            {"fields": ["is_staff", "is_superuser", "groups", "user_permissions", "last_login"]},
        ),
    ]
    filter_horizontal = ["groups", "user_permissions"]
    inlines = [IdentityInline]
    actions = ["suspend_accounts", "reactivate_accounts"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("rucio_state")
            .prefetch_related("identities")
        )

    @admin.display(description="Rucio")
    def rucio(self, obj):
        """In sync / pending / differs (the difference as its title), linking to its page."""
        state = rucio_state_of(account=obj)
        if state.state == "off":
            return "off"
        return format_html(
            '<a href="{}" title="{}">{}</a>',
            reverse("rucio_account", args=[obj.name]),
            "; ".join(state.differences),
            state.state,
        )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = AccountAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": AccountAddForm.Meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if not change:  # a new account needs its uid from the service
            created = account_create(
                name=obj.name,
                type=obj.type,
                email=obj.email,
                display_name=obj.display_name,
                is_staff=obj.is_staff,
                actor=request.user,
            )
            obj.pk, obj.uid, obj.created = created.pk, created.uid, created.created
            obj.password = created.password
            if created.is_staff:
                audit_record(
                    action="account.set_is_staff",
                    actor=request.user,
                    account=created,
                    target=f"account:{created.name}",
                    detail={"from": False, "to": True},
                    ip=client_ip(request),
                )
            return
        if "email" in form.changed_data:
            account_set_email(
                account=obj, email=obj.email, actor=request.user, ip=client_ip(request)
            )
        rights = [name for name in RIGHT_FLAGS if name in form.changed_data]
        super().save_model(request, obj, form, change)
        for name in rights:
            audit_record(
                action=f"account.set_{name}",
                actor=request.user,
                account=obj,
                target=f"account:{obj.name}",
                detail={"from": form.initial.get(name), "to": getattr(obj, name)},
                ip=client_ip(request),
            )

    def save_related(self, request, form, formsets, change):
        """Groups and permissions are rights too: every change of them is audited."""
        account = form.instance
        before = {name: _names(getattr(account, name)) for name in RIGHT_SETS} if change else {}
        super().save_related(request, form, formsets, change)
        for name in RIGHT_SETS:
            after = _names(getattr(account, name))
            was = before.get(name, set())
            if after != was:
                audit_record(
                    action=f"account.set_{name}",
                    actor=request.user,
                    account=account,
                    target=f"account:{account.name}",
                    detail={"added": sorted(after - was), "removed": sorted(was - after)},
                    ip=client_ip(request),
                )

    @admin.action(description="Suspend selected accounts…", permissions=["change"])
    def suspend_accounts(self, request, queryset):
        form = SuspendForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._change_status(
                request,
                queryset,
                "suspended",
                lambda account: account_suspend(
                    account=account,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                    ip=client_ip(request),
                ),
            )
            return None
        return TemplateResponse(
            request,
            "admin/accounts/account/suspend.html",
            {
                **self.admin_site.each_context(request),
                "title": "Suspend accounts",
                "opts": self.model._meta,
                "accounts": queryset,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Reactivate selected accounts", permissions=["change"])
    def reactivate_accounts(self, request, queryset):
        self._change_status(
            request,
            queryset,
            "reactivated",
            lambda account: account_reactivate(
                account=account, actor=request.user, ip=client_ip(request)
            ),
        )

    def _change_status(self, request, queryset, verb, change) -> None:
        done = 0
        for account in queryset:
            try:
                change(account)
                done += 1
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        if done:
            self.message_user(request, f"{done} account(s) {verb}.", messages.SUCCESS)


class IdentityAddForm(forms.ModelForm):
    """Checks the identity string and uniqueness up front, so mistakes show on the form."""

    class Meta:
        model = Identity
        fields = ["account", "type", "identity", "email", "idp"]
        help_texts = {
            "identity": "OIDC: SUB=&lt;sub&gt;, ISS=&lt;issuer&gt; exactly. X.509: a DN in "
            "slash or RFC 2253 form (stored in slash form)."
        }

    def clean(self):
        cleaned = super().clean()
        type, text = cleaned.get("type"), cleaned.get("identity")
        if type and text:
            try:
                cleaned["identity"] = normalise_identity(type=type, identity=text)
            except ValueError as exc:
                self.add_error("identity", str(exc))
                return cleaned
            holder = identity_find(type=type, identity=cleaned["identity"])
            if holder is not None:
                self.add_error(
                    "identity",
                    f"Already linked to account '{holder.account.name}'; remove it there first.",
                )
        return cleaned

    def validate_unique(self):
        """identity_add checks uniqueness on the normalised string (see clean)."""


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["identity", "type", "account", "source", "idp", "email", "created"]
    list_filter = ["type", "source", "idp"]
    search_fields = ["identity", "account__name", "email"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    date_hierarchy = "created"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = IdentityAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return IdentityAddForm.Meta.fields
        return ["account", "type", "identity", "email", "source", "idp", "created", "updated"]

    def has_change_permission(self, request, obj=None):
        return False  # identities are added and removed (audited), not edited in place

    def save_model(self, request, obj, form, change):
        linked = identity_add(
            account=obj.account,
            type=obj.type,
            identity=obj.identity,
            email=obj.email,
            idp=obj.idp,
            actor=request.user,
            ip=client_ip(request),
        )
        obj.pk, obj.identity, obj.idp, obj.created = (
            linked.pk,
            linked.identity,
            linked.idp,
            linked.created,
        )

    def delete_model(self, request, obj):
        # An admin's removal is deliberate, so it may take even the last login identity.
        identity_remove(identity=obj, actor=request.user, ip=client_ip(request), allow_last=True)

    def delete_queryset(self, request, queryset):
        for identity in queryset:
            self.delete_model(request, identity)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created", "actor_name", "action", "account", "target", "ip"]
    list_filter = ["action"]
    search_fields = ["actor_name", "account__name", "action", "target", "comment"]
    list_select_related = ["account"]
    date_hierarchy = "created"


@admin.register(Registration)
class RegistrationAdmin(ReadOnlyAdmin):
    """Pending first logins; the decisions are made on the approval page, not here."""

    list_display = [
        "requested_name",
        "display_name",
        "email",
        "idp",
        "state",
        "created",
        "decided_by",
    ]
    list_filter = ["state", "idp"]
    search_fields = ["requested_name", "email", "display_name", "identity"]
    date_hierarchy = "created"


@admin.register(IdpGroup)
class IdpGroupAdmin(ReadOnlyAdmin):
    """Groups as SCIM sync last read them from the provider."""

    list_display = ["name", "idp", "scim_id", "member_count", "updated"]
    list_filter = ["idp"]
    search_fields = ["name", "scim_id", "members__name"]
    exclude = ["members"]
    readonly_fields = ["idp", "scim_id", "name", "member_names", "updated"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, group: IdpGroup) -> int:
        return group.member_total

    @admin.display(description="members")
    def member_names(self, group: IdpGroup) -> str:
        return ", ".join(group.members.order_by("name").values_list("name", flat=True)) or "—"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["started", "idp", "outcome_badge", "finished", "forced", "triggered_by"]
    list_filter = ["outcome", "idp", "forced"]
    search_fields = ["idp", "error"]
    date_hierarchy = "started"

    class Media:
        css = {"all": ["css/admin.css"]}  # a class, not style=: the CSP allows no inline style

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, run: SyncRun):
        if run.outcome not in ("success", "failed", "halted"):
            return run.get_outcome_display()
        return format_html(
            '<strong class="outcome outcome-{}">{}</strong>',
            run.outcome,
            run.get_outcome_display(),
        )
