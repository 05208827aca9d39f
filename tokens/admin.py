"""Admin pages for the tokens the portal holds. Token values are never shown."""

from django.contrib import admin, messages
from django.http import HttpResponse

from accounts.services import audit_record
from tokens.issuer.services import oauth_client_secret_reset
from tokens.models import IssuedToken, IssuerKey, OAuthClient, StorageElement, Token


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Tokens the portal holds. The encrypted values are not fields here at all."""

    list_display = [
        "hash_prefix",
        "account",
        "idp",
        "short_scope",
        "expires_at",
        "refresh",
        "created",
    ]
    list_filter = ["idp", "refresh", "expires_at"]
    search_fields = ["account__name", "token_hash", "scope", "audience"]
    list_select_related = ["account"]
    date_hierarchy = "created"
    fields = [
        "account",
        "identity",
        "idp",
        "hash_prefix",
        "scope",
        "audience",
        "expires_at",
        "refresh",
        "refresh_expires_at",
        "refresh_start",
        "refresh_lifetime",
        "refresh_error",
        "ip",
        "created",
        "updated",
    ]
    readonly_fields = fields

    @admin.display(description="token (SHA-256)", ordering="token_hash")
    def hash_prefix(self, token: Token) -> str:
        return f"{token.token_hash[:12]}…"

    @admin.display(description="scope")
    def short_scope(self, token: Token) -> str:
        return token.scope if len(token.scope) <= 60 else token.scope[:59] + "…"

    def get_queryset(self, request):
        # Never load the encrypted columns for admin pages.
        return super().get_queryset(request).defer("token", "id_token", "refresh_token")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- the storage-token issuer ------------------------------------------------------------------


@admin.register(StorageElement)
class StorageElementAdmin(admin.ModelAdmin):
    """The registry the issuer and the inspector share (also `manage.py storage_element`)."""

    list_display = ["name", "audience", "base_path", "max_lifetime", "tape", "enabled"]
    list_filter = ["enabled", "tape"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action="storage_element.change" if change else "storage_element.create",
            actor=request.user,
            target=f"se:{obj.name}",
            detail={"fields": list(form.changed_data)},
        )


@admin.register(IssuerKey)
class IssuerKeyAdmin(admin.ModelAdmin):
    """Keys are made and rotated by `manage.py issuer_key`; the private half is never shown."""

    list_display = ["kid", "alg", "state", "created", "activated", "retired", "last_expiry"]
    list_filter = ["state", "alg"]
    fields = ["kid", "alg", "state", "public_jwk", "created", "activated", "retired", "last_expiry"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("private_key")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    """Services that ask for storage tokens. A new client's secret is shown once, here."""

    list_display = ["client_id", "enabled", "may_act_for_users", "service_account", "created"]
    list_filter = ["enabled", "may_act_for_users"]
    search_fields = ["client_id"]
    exclude = ["secret_hash"]
    actions = ["reset_secret"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret_hash = "!"  # matches no secret until "Reset the secret" makes one
            messages.info(
                request,
                f"Client {obj.client_id} has no secret yet: select it and run "
                "\u201cReset the secret\u201d to see one once.",
            )
        super().save_model(request, obj, form, change)
        audit_record(
            action="oauth_client.change" if change else "oauth_client.create",
            actor=request.user,
            target=f"client:{obj.client_id}",
            detail={"fields": list(form.changed_data)},
        )

    @admin.action(description="Reset the secret (the old one stops working)")
    def reset_secret(self, request, queryset):
        """Shows the new secrets in this one response (never in a message, which the session
        or a cookie would keep)."""
        lines = [
            f"{client.client_id} {oauth_client_secret_reset(client=client, actor=request.user)}"
            for client in queryset
        ]
        response = HttpResponse(
            "New client secrets, shown only now (the old ones no longer work):\n\n"
            + "\n".join(lines)
            + "\n",
            content_type="text/plain; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(IssuedToken)
class IssuedTokenAdmin(admin.ModelAdmin):
    """Every storage token minted: who, for which element and scopes, until when. Never the
    token itself."""

    list_display = ["jti", "account", "client", "storage_element", "way", "expires_at"]
    list_filter = ["way", "storage_element", "issued_at"]
    search_fields = ["jti", "account__name", "scopes"]
    list_select_related = ["account", "client", "storage_element"]
    readonly_fields = [f.name for f in IssuedToken._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
