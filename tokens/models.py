"""The tokens the portal holds for people (login tokens and their refreshed successors)."""

from django.db import models
from django.utils import timezone

from accounts.crypto import EncryptedTextField
from accounts.models import Account, Identity


class Token(models.Model):
    """An access token the portal holds (mirrors Rucio's `tokens` table); values encrypted."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens"
    )
    idp = models.CharField(max_length=64, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    token = EncryptedTextField()
    id_token = EncryptedTextField(blank=True)
    scope = models.TextField(blank=True)
    audience = models.TextField(blank=True)
    expires_at = models.DateTimeField(db_index=True)
    refresh_token = EncryptedTextField(blank=True)
    refresh = models.BooleanField(default=False, help_text="Keep refreshing this token.")
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_start = models.DateTimeField(null=True, blank=True)
    refresh_lifetime = models.DurationField(null=True, blank=True)
    refresh_error = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["account", "-created"]),
            models.Index(fields=["refresh", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"token {self.token_hash[:10]} of {self.account_id}"
