"""Who people are: accounts, identities, registrations, IdP groups, sync runs, the audit log."""

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.indexes import OpClass
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from accounts.indexes import PostgresOnlyGinIndex
from accounts.names import ACCOUNT_NAME_RE, ACCOUNT_NAME_RULE

account_name_validator = RegexValidator(ACCOUNT_NAME_RE, ACCOUNT_NAME_RULE)


def validate_printable(value: str) -> None:
    """No control characters, line breaks or lone surrogates (Django's EmailValidator lets a
    lone surrogate through, which PostgreSQL then cannot store)."""
    if isinstance(value, str) and not value.isprintable():
        raise ValidationError(
            f"{value!r} contains a control character, a line break or a broken character: "
            "type it again in plain characters."
        )


class PosixIdCounter(models.Model):
    """Next free POSIX id per kind ("uid", "gid"); ids are handed out once and never reused."""

    kind = models.CharField(max_length=8, primary_key=True)
    next_value = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.kind}: next {self.next_value}"


class AccountManager(BaseUserManager):
    def create_user(self, name, email="", password=None, **extra):
        from accounts.services import account_create

        return account_create(name=name, email=email, password=password, **extra)

    def create_superuser(self, name, email="", password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(name, email, password, **extra)


class Account(AbstractBaseUser, PermissionsMixin):
    """A data-centre account (Rucio-style), the Django user model."""

    class Type(models.TextChoices):
        USER = "USER", "user"
        GROUP = "GROUP", "group"
        SERVICE = "SERVICE", "service"

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE", "active"
        SUSPENDED = "SUSPENDED", "suspended"
        DELETED = "DELETED", "deleted"

    name = models.CharField(max_length=25, unique=True, validators=[account_name_validator])
    type = models.CharField(max_length=7, choices=Type.choices, default=Type.USER)
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=300, blank=True)
    email = models.EmailField(blank=True, validators=[validate_printable])
    display_name = models.CharField(max_length=200, blank=True)
    # Allocated once by the service from GATEHOUSE_UID_MIN..MAX and never reused.
    uid = models.PositiveBigIntegerField(unique=True, null=True, blank=True, editable=False)
    # The `sub` of storage tokens Gatehouse issues: opaque, stable, never reused, never the e-mail.
    token_subject = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    is_staff = models.BooleanField(
        default=False, help_text="Data-centre admin: may use the admin pages."
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    objects = AccountManager()

    USERNAME_FIELD = "name"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["status", "name"]),
            # The few accounts that are not ACTIVE, for the anti-join in
            # campaigns.selectors.current_member_count.
            models.Index(
                fields=["id"], condition=~models.Q(status="ACTIVE"), name="account_inactive_id"
            ),
            # "PI name contains ..." in the campaign search: icontains is UPPER(name) LIKE
            # UPPER('%...%'), which a pg_trgm GIN on UPPER(name) answers (PostgreSQL only).
            PostgresOnlyGinIndex(
                OpClass(Upper("name"), name="gin_trgm_ops"), name="account_name_upper_trgm"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_admin(self) -> bool:
        return self.is_staff or self.is_superuser

    def get_full_name(self) -> str:
        return self.display_name or self.name

    def get_short_name(self) -> str:
        return self.name


class Session(AbstractBaseSession):
    """A browser's session: Django's database session with the account logged in to it, so
    that one read gives a request both (accounts/sessions.py, SESSION_ENGINE) and an account's
    sessions can be found without decoding every one."""

    # No foreign key constraint: a session saved while its account is deleted must not fail;
    # it finds no account and is anonymous.
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )

    @classmethod
    def get_session_store_class(cls):
        from accounts.sessions import SessionStore

        return SessionStore


class Identity(models.Model):
    """A way to prove one is an account: an OIDC (sub, iss) pair or an X.509 DN."""

    class Type(models.TextChoices):
        OIDC = "OIDC", "OIDC"
        X509 = "X509", "X.509"
        SSH = "SSH", "SSH"

    class Source(models.TextChoices):
        MANUAL = "manual", "manual"
        LOGIN = "login", "login"
        SCIM = "scim", "SCIM"

    type = models.CharField(max_length=4, choices=Type.choices)
    # OIDC: Rucio's "SUB=<sub>, ISS=<issuer>"; X509: DN in OpenSSL slash form.
    identity = models.CharField(max_length=2048)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="identities")
    email = models.EmailField(blank=True, validators=[validate_printable])
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.MANUAL)
    idp = models.CharField(max_length=64, blank=True, help_text="Provider nickname (OIDC).")
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["type", "identity"]
        constraints = [
            models.UniqueConstraint(fields=["type", "identity"], name="identity_type_identity_uniq")
        ]
        indexes = [models.Index(fields=["account", "type"])]

    def __str__(self) -> str:
        return f"{self.type}: {self.identity}"


class Registration(models.Model):
    """A first login by an unknown identity, waiting for an admin's decision."""

    class State(models.TextChoices):
        PENDING = "pending", "waiting for approval"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"

    idp = models.CharField(max_length=64)
    identity = models.CharField(max_length=2048, help_text="SUB=<sub>, ISS=<issuer>")
    requested_name = models.CharField(max_length=25, validators=[account_name_validator])
    email = models.EmailField(blank=True, validators=[validate_printable])
    display_name = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["identity"],
                condition=models.Q(state="pending"),
                name="registration_one_pending_per_identity",
            )
        ]

    def __str__(self) -> str:
        return f"{self.requested_name} ({self.get_state_display()})"


class AuditEvent(models.Model):
    """Append-only record of who did what to whom, when, from where."""

    created = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_actions"
    )
    actor_name = models.CharField(max_length=64, blank=True, help_text="Kept if the actor goes.")
    action = models.CharField(max_length=64, db_index=True)
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    target = models.CharField(max_length=300, blank=True)
    comment = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["account", "-created"])]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name or '-'} {self.action} {self.target}"


class IdpGroup(models.Model):
    """A group at an identity provider (IAM), as read by SCIM sync."""

    idp = models.CharField(max_length=64)
    scim_id = models.CharField(max_length=128)
    name = models.CharField(max_length=300)
    members = models.ManyToManyField(
        Account, through="IdpGroupMembership", related_name="idp_groups"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["idp", "name"]
        constraints = [
            models.UniqueConstraint(fields=["idp", "scim_id"], name="idpgroup_idp_scim_id_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.idp}:{self.name}"


class IdpGroupMembership(models.Model):
    group = models.ForeignKey(IdpGroup, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "account"], name="idpgroupmembership_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.group_id}"


class SyncRun(models.Model):
    """One sync run: SCIM from one provider into Gatehouse, or Gatehouse into Rucio."""

    class Kind(models.TextChoices):
        SCIM = "scim", "SCIM from IAM"
        RUCIO = "rucio", "provisioning into Rucio"

    class Outcome(models.TextChoices):
        RUNNING = "running", "running"
        SUCCESS = "success", "success"
        FAILED = "failed", "failed"
        HALTED = "halted", "halted by failsafe"
        DRY_RUN = "dry-run", "dry run"

    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.SCIM)
    idp = models.CharField(max_length=64, blank=True, help_text="SCIM runs: the provider.")
    started = models.DateTimeField(default=timezone.now, db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    forced = models.BooleanField(default=False)
    triggered_by = models.CharField(max_length=64, blank=True, help_text="beat, command, admin")
    heartbeat = models.DateTimeField(
        default=timezone.now, help_text="Last sign of life of the worker running it."
    )

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["kind", "-started"])]

    def __str__(self) -> str:
        return f"sync {self.idp or self.kind} {self.started:%Y-%m-%d %H:%M} {self.outcome}"


class RucioAccountState(models.Model):
    """What the Rucio reconcile last made true in Rucio for one account (its ledger).

    Written only after every call for the account succeeded, so it never claims more than
    Rucio holds; a no-change run compares against it instead of asking Rucio account by account.
    """

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="rucio_state"
    )
    status = models.CharField(max_length=9, blank=True, help_text="Status set in Rucio.")
    type = models.CharField(max_length=7, blank=True)
    email = models.CharField(max_length=254, blank=True)
    identities = models.JSONField(
        default=list, blank=True, help_text='Sorted ["TYPE identity", ...] present in Rucio.'
    )
    synced = models.DateTimeField(null=True, blank=True)
    problem = models.TextField(blank=True, help_text="Why the account could not be provisioned.")

    def __str__(self) -> str:
        return f"Rucio state of {self.account_id}"


class ScheduledJob(models.Model):
    """When a scheduled job last started, so that a second beat's send of it does nothing."""

    name = models.CharField(max_length=64, primary_key=True)
    last_started = models.DateTimeField(null=True, blank=True)
    last_slot = models.BigIntegerField(
        null=True, blank=True, help_text="The interval (counted from 1970) it last ran in."
    )
    runs = models.PositiveBigIntegerField(default=0)
    skipped = models.PositiveBigIntegerField(default=0, help_text="Sends that came too early.")

    def __str__(self) -> str:
        return f"{self.name} (last started {self.last_started})"
