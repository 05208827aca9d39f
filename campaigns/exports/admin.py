"""Admin for node tokens: create (the secret is shown once, on the page after saving), revoke,
see when and from where each was last used. The stored hash is never shown in full."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from accounts.http import client_ip
from campaigns.models import NodeToken
from campaigns.services import node_token_create, node_token_revoke, node_token_rotate

ROTATE_GRACE = timedelta(hours=24)

DETAIL_FIELDS = (
    "name",
    "state",
    "hash_prefix",
    "created",
    "created_by",
    "revoked_at",
    "last_used_at",
    "last_used_ip",
)


class NodeTokenAddForm(forms.ModelForm):
    class Meta:
        model = NodeToken
        fields = ["name"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if NodeToken.objects.filter(name=name, revoked_at__isnull=True).exists():
            raise ValidationError(
                "A node token with this name is active: choose another name, or rotate it."
            )
        return name


@admin.register(NodeToken)
class NodeTokenAdmin(admin.ModelAdmin):
    form = NodeTokenAddForm
    list_display = ("name", "state", "hash_prefix", "created", "last_used_at", "last_used_ip")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name",)
    actions = ["rotate_selected", "revoke_selected"]

    @admin.display(description="state")
    def state(self, obj: NodeToken) -> str:
        return obj.state()

    @admin.display(description="token hash")
    def hash_prefix(self, obj: NodeToken) -> str:
        return f"{obj.token_hash[:8]}…" if obj.token_hash else ""

    def get_fields(self, request, obj=None):
        return DETAIL_FIELDS if obj else ("name",)

    def get_readonly_fields(self, request, obj=None):
        return DETAIL_FIELDS if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the token's history

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing on a node token is editable
        node_token, secret = node_token_create(
            name=obj.name, actor=request.user, ip=client_ip(request)
        )
        obj.pk, obj.token_hash, obj.created = (
            node_token.pk,
            node_token.token_hash,
            node_token.created,
        )
        obj.created_by = node_token.created_by
        obj._state.adding = False
        request._node_token_secret = secret

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_node_token_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return self._show_secret(request, obj, secret, f"Node token {obj.name} created", "")

    def _show_secret(self, request, node_token: NodeToken, secret: str, title: str, note: str):
        # Rendered here rather than after a redirect: the secret must not wait in a session.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "node_token": node_token,
            "secret": secret,
            "note": note,
        }
        response = TemplateResponse(request, "admin/campaigns/nodetoken/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(
        description="Rotate the selected node token (old one valid 24 h more)",
        permissions=["change"],
    )
    def rotate_selected(self, request, queryset):
        active = [t for t in queryset if t.state() == "active"]
        if len(active) != 1:
            self.message_user(
                request, "Select exactly one active node token to rotate.", messages.WARNING
            )
            return None
        try:
            new, secret = node_token_rotate(
                node_token=active[0], grace=ROTATE_GRACE, actor=request.user, ip=client_ip(request)
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.WARNING)
            return None
        return self._show_secret(
            request,
            new,
            secret,
            f"Node token {new.name} rotated",
            "The old token keeps working for 24 hours: install this one before then.",
        )

    @admin.action(description="Revoke the selected node tokens", permissions=["change"])
    def revoke_selected(self, request, queryset):
        revoked = []
        for node_token in (t for t in queryset if t.state() != "revoked"):
            try:
                node_token_revoke(node_token=node_token, actor=request.user, ip=client_ip(request))
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
            else:
                revoked.append(node_token.name)
        if revoked:
            self.message_user(request, f"Revoked: {', '.join(revoked)}.", messages.SUCCESS)
        else:
            self.message_user(request, "No active node token was selected.", messages.WARNING)
