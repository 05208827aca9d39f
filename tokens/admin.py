"""Admin pages for the tokens the portal holds. Token values are never shown."""

from django.contrib import admin

from tokens.models import Token


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
