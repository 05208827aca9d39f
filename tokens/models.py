"""The tokens the portal holds for people (login tokens and their refreshed successors), and
the storage-token issuer's registry: storage elements, signing keys, clients, issued tokens."""

import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.crypto import EncryptedTextField
from accounts.models import Account, Identity
from tokens.inspection import STORAGE_OPERATIONS
from tokens.paths import path_covers, storage_path


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


# --- the storage-token issuer ------------------------------------------------------------------

MAX_STORAGE_TOKEN_LIFETIME = timedelta(hours=6)
DEFAULT_STORAGE_TOKEN_LIFETIME = timedelta(minutes=20)
STORAGE_SCOPE_OPERATIONS = ("read", "create", "modify", "stage")
SE_NAME_RE = r"\A[a-z0-9][a-z0-9._-]{0,62}\Z"
CLIENT_ID_RE = r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z"
# What reaches a minted token's `aud` or a command a person copies: printable ASCII, no spaces.
_AUDIENCE = re.compile(r"[\x21-\x7e]{1,255}")
_ENDPOINT = re.compile(r"https?://[\x21-\x7e]{1,250}")
_SE_NAME = re.compile(SE_NAME_RE)


def _validate_lifetime(value: timedelta) -> None:
    if value <= timedelta(0) or value > MAX_STORAGE_TOKEN_LIFETIME:
        raise ValidationError("A storage token lives more than 0 seconds and at most 6 hours.")


def _validate_absolute_paths(value) -> None:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ValidationError("Give a list of absolute paths such as ['/data/nightsky'].")
    for path in value:
        try:
            storage_path(path)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def _require_strings_matching(value, pattern: re.Pattern, what: str) -> None:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and pattern.fullmatch(v) for v in value
    ):
        raise ValidationError(f"Give a list of {what}.")


def _validate_audiences(value) -> None:
    _require_strings_matching(
        value, _AUDIENCE, "audiences such as https://storage.example.org (printable, no spaces)"
    )


def _validate_endpoints(value) -> None:
    _require_strings_matching(value, _ENDPOINT, "http(s) URLs without spaces")


def _validate_element_names(value) -> None:
    _require_strings_matching(value, _SE_NAME, "storage element names such as dcache-1")


def _validate_absolute_path(value: str) -> None:
    _validate_absolute_paths([value])


class StorageElement(models.Model):
    """A storage endpoint Gatehouse issues tokens for and inspects tokens against."""

    name = models.CharField(max_length=63, unique=True, validators=[RegexValidator(SE_NAME_RE)])
    audiences = models.JSONField(
        validators=[_validate_audiences],
        help_text="The `aud` values this storage element accepts; tokens carry the first.",
    )
    base_path = models.CharField(
        max_length=500,
        default="/",
        validators=[_validate_absolute_path],
        help_text="Where Gatehouse's issuer area starts on this element (XRootD base_path, "
        "dCache/StoRM prefix); token scopes are relative to it.",
    )
    endpoints = models.JSONField(default=list, blank=True, validators=[_validate_endpoints])
    max_lifetime = models.DurationField(
        default=DEFAULT_STORAGE_TOKEN_LIFETIME, validators=[_validate_lifetime]
    )
    tape_paths = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_absolute_paths],
        help_text="Absolute paths on tape here: readers of them may also get storage.stage.",
    )
    tape = models.BooleanField(default=False, help_text="Everything here is on tape.")
    enabled = models.BooleanField(default=True)
    # Issuers other than Gatehouse whose area starts elsewhere here: {"<iss>": "/path"}.
    issuer_base_paths = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.base_path = storage_path(self.base_path)
        except ValueError as exc:
            raise ValidationError({"base_path": str(exc)}) from exc

    @property
    def audience(self) -> str:
        return self.audiences[0]

    def base_path_for(self, issuer: str, default: str = "/") -> str:
        """Where `issuer`'s area starts here: `base_path` for Gatehouse's own tokens."""
        if issuer == settings.SITE_URL:
            return self.base_path
        return self.issuer_base_paths.get(issuer, default)

    def is_tape(self, path: str) -> bool:
        from_paths = any(path_covers(prefix, path) for prefix in self.tape_paths)
        return self.tape or from_paths


class IssuerKey(models.Model):
    """A signing key of Gatehouse's storage-token issuer; the private half encrypted at rest."""

    class Alg(models.TextChoices):
        ES256 = "ES256", "ES256 (P-256)"
        RS256 = "RS256", "RS256 (RSA 2048)"

    class State(models.TextChoices):
        NEXT = "next", "next"
        ACTIVE = "active", "active"
        RETIRED = "retired", "retired"

    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=5, choices=Alg.choices, default=Alg.ES256)
    private_key = EncryptedTextField(help_text="PEM (PKCS#8), encrypted with the token key ring.")
    public_jwk = models.JSONField()
    state = models.CharField(max_length=7, choices=State.choices, default=State.NEXT)
    created = models.DateTimeField(default=timezone.now)
    activated = models.DateTimeField(null=True, blank=True)
    retired = models.DateTimeField(null=True, blank=True)
    last_expiry = models.DateTimeField(
        null=True, blank=True, help_text="When the last token this key signed expires."
    )

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="one_active_issuer_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.alg}, {self.state})"


def _validate_grants(value) -> None:
    if not isinstance(value, list) or not set(value) <= set(OAuthClient.Grant.values):
        raise ValidationError("Give grants from: " + ", ".join(OAuthClient.Grant.values) + ".")


def _validate_operations(value) -> None:
    if not isinstance(value, list) or not set(value) <= set(STORAGE_OPERATIONS):
        raise ValidationError(
            "Give storage operations from: " + ", ".join(STORAGE_OPERATIONS) + "."
        )


class OAuthClient(models.Model):
    """A service allowed to ask for storage tokens (e.g. Rucio, FTS, a deletion daemon)."""

    class Grant(models.TextChoices):
        TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange", "token exchange"
        CLIENT_CREDENTIALS = "client_credentials", "client credentials"

    client_id = models.CharField(
        max_length=100, unique=True, validators=[RegexValidator(CLIENT_ID_RE)]
    )
    secret_hash = models.CharField(
        max_length=200, help_text="PBKDF2 hash of the secret (shown once when created)."
    )
    grants = models.JSONField(default=list, validators=[_validate_grants])
    audiences = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_element_names],
        help_text="Storage element names.",
    )
    path_prefixes = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_absolute_paths],
        help_text="Paths (relative to each element's base path) this client may get scopes for.",
    )
    operations = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_operations],
        help_text="Storage operations for its own service account.",
    )
    may_act_for_users = models.BooleanField(default=False)
    service_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="oauth_clients"
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["client_id"]

    def __str__(self) -> str:
        return self.client_id


class IssuedToken(models.Model):
    """The record of a minted storage token: never the token itself."""

    jti = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="storage_tokens")
    client = models.ForeignKey(
        OAuthClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="tokens"
    )
    storage_element = models.ForeignKey(
        StorageElement, on_delete=models.CASCADE, related_name="tokens"
    )
    scopes = models.TextField()
    kid = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, help_text="SHA-256 of the token.")
    way = models.CharField(max_length=20)  # browser, exchange, client_credentials
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["account", "-issued_at"])]

    def __str__(self) -> str:
        return f"storage token {self.jti} of {self.account_id}"
