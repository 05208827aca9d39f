"""Writes for the tokens the portal holds: a login's tokens kept or deleted, and the token
lifecycle that Rucio's oauth-manager ran, done safely: refresh, then clean up.

Refresh: a token marked `refresh` whose access token expires before the next cycle is
refreshed at its provider (refresh_token grant). The new access token becomes a new row that
carries the refresh token on (the rotated one if the provider rotated it), refresh_start and
refresh_lifetime; the old row keeps its access token until it expires but gives up the refresh
token. Each token is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so two workers never
refresh the same one (with rotation, a double refresh would kill the user's grant). A refused
refresh token is dropped and audited; an unreachable provider is simply tried next cycle.

Clean-up: access tokens that are expired and whose refresh token is expired or absent, and
expired sessions (which hold the OIDC login states), are deleted in small batches, each its own
short transaction, rows claimed with SKIP LOCKED: logins are never blocked and several workers
may clean at once, each row deleted once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts import crypto
from accounts.crypto import token_hash
from accounts.idps import ProviderUnavailable, discovery, get_provider
from accounts.models import Account, Identity, Session
from accounts.oauth import TokenEndpointUnreachable, TokenEndpointUnsupported, token_request
from accounts.services import audit_record
from tokens.models import Token

log = logging.getLogger(__name__)

CLEANUP_BATCH = 1000


@dataclass
class RefreshReport:
    refreshed: int = 0
    refused: int = 0
    stopped: int = 0  # past refresh_start + refresh_lifetime
    unreachable: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "refreshed": self.refreshed,
            "refused": self.refused,
            "stopped": self.stopped,
            "unreachable": self.unreachable,
        }


def tokens_due_for_refresh(*, within: timedelta, now: datetime | None = None):
    """Tokens to refresh now; only of ACTIVE accounts (a suspended one is refreshed never)."""
    now = now or timezone.now()
    return (
        Token.objects.filter(
            refresh=True, expires_at__lt=now + within, account__status=Account.Status.ACTIVE
        )
        .exclude(refresh_token="")
        .exclude(refresh_expires_at__lte=now)
    )


def tokens_refresh(*, within: timedelta, limit: int = 500) -> RefreshReport:
    """Refresh what expires within `within`; each token in its own short transaction."""
    report = RefreshReport()
    candidates = list(tokens_due_for_refresh(within=within).values_list("pk", flat=True)[:limit])
    for pk in candidates:
        with transaction.atomic():
            token = (
                tokens_due_for_refresh(within=within)
                .select_for_update(skip_locked=True)
                .filter(pk=pk)
                .first()
            )
            if token is not None:  # else another worker has it, or it is no longer due
                _refresh_one(token, report)
    return report


def _refresh_one(token: Token, report: RefreshReport) -> None:
    now = timezone.now()
    started = token.refresh_start or token.created
    if token.refresh_lifetime and now > started + token.refresh_lifetime:
        token.refresh = False
        token.refresh_token = ""  # never used again, so the clean-up may take the row
        token.refresh_error = "Refreshing stopped: the refresh lifetime is over."
        token.save(update_fields=["refresh", "refresh_token", "refresh_error", "updated"])
        _audit("token.refresh.stop", token, token.refresh_error)
        report.stopped += 1
        return
    provider = get_provider(token.idp)
    if provider is None:
        report.unreachable += 1
        report.errors.append(f"token {token.pk}: provider {token.idp!r} is not configured")
        return
    try:
        document = discovery(provider)
        # token_request never follows a redirect: it would resend the refresh token elsewhere.
        answer = token_request(
            endpoint=document["token_endpoint"],
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            grant={"grant_type": "refresh_token", "refresh_token": token.refresh_token},
            auth_methods=document.get("token_endpoint_auth_methods_supported"),
            timeout=settings.GATEHOUSE_HTTP_TIMEOUT,
        )
    except (ProviderUnavailable, TokenEndpointUnreachable, KeyError) as exc:
        report.unreachable += 1
        log.info("token %s: %s unreachable (%s); next cycle", token.pk, token.idp, exc)
        return
    except TokenEndpointUnsupported as exc:
        report.unreachable += 1
        report.errors.append(f"token {token.pk}: {exc}")
        log.warning("token %s: %s: %s", token.pk, token.idp, exc)
        return
    if answer.status in (400, 401):
        error = answer.error or "refused"
        token.refresh = False
        token.refresh_token = ""
        token.refresh_error = (
            f"{provider.label} refused the refresh token ({error}); the user must log in again."
        )[:300]
        token.save(update_fields=["refresh", "refresh_token", "refresh_error", "updated"])
        _audit("token.refresh.refused", token, token.refresh_error)
        report.refused += 1
        return
    if not answer.ok:
        report.unreachable += 1
        log.info("token %s: %s answered %s; next cycle", token.pk, token.idp, answer.status)
        return
    body = answer.body
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        report.unreachable += 1
        log.warning(
            "token %s: %s answered 200 without an access token; next cycle", token.pk, token.idp
        )
        return
    rotated = body.get("refresh_token") or token.refresh_token
    was_rotated = rotated != token.refresh_token
    refresh_expires_in = body.get("refresh_expires_in")
    fresh = Token(
        account_id=token.account_id,
        identity_id=token.identity_id,
        idp=token.idp,
        token_hash=crypto.token_hash(access),
        token=access,
        id_token=body.get("id_token") or token.id_token,
        scope=body.get("scope") or token.scope,
        audience=token.audience,
        expires_at=now + timedelta(seconds=int(body.get("expires_in") or 3600)),
        refresh_token=rotated,
        refresh=True,
        refresh_expires_at=(
            now + timedelta(seconds=int(refresh_expires_in))
            if refresh_expires_in
            else token.refresh_expires_at
        ),
        refresh_start=started,
        refresh_lifetime=token.refresh_lifetime,
        ip=token.ip,
        created=now,
    )
    fresh.full_clean(exclude=["account", "identity"], validate_unique=False)
    fresh.save()
    token.refresh = False
    token.refresh_token = ""
    token.refresh_error = ""
    token.save(update_fields=["refresh", "refresh_token", "refresh_error", "updated"])
    _audit(
        "token.refresh",
        fresh,
        "",
        replaced=token.token_hash[:12],
        rotated=was_rotated,
    )
    report.refreshed += 1


def _audit(action: str, token: Token, comment: str, **detail) -> None:
    audit_record(
        action=action,
        actor_name="token-lifecycle",
        account=token.account,
        target=f"token:{token.token_hash[:12]}",
        comment=comment,
        detail={"idp": token.idp, **detail},
    )


@dataclass
class CleanupReport:
    tokens: int = 0
    sessions: int = 0
    batches: int = 0

    def as_dict(self) -> dict:
        return {"tokens": self.tokens, "sessions": self.sessions, "batches": self.batches}


_EXPIRED = "expires_at < %(now)s AND (refresh_token = '' OR refresh_expires_at < %(now)s)"


def tokens_cleanup(
    *, batch: int = CLEANUP_BATCH, dry_run: bool = False, now: datetime | None = None
) -> CleanupReport:
    """Delete what has expired for good, `batch` rows per transaction; returns the counts."""
    now = now or timezone.now()
    report = CleanupReport()
    table, sessions = Token._meta.db_table, Session._meta.db_table
    if dry_run:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {_EXPIRED}", {"now": now})  # noqa: S608
            report.tokens = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM {sessions} WHERE expire_date < %s", [now])  # noqa: S608
            report.sessions = cursor.fetchone()[0]
        return report
    if connection.vendor != "postgresql":
        return _cleanup_portable(now, report)
    # Walk the primary key upwards: each batch starts where the last one ended, so dead rows
    # left by earlier batches are never scanned again.
    after = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH claimed AS (
                    SELECT id FROM {table}
                    WHERE id > %(after)s AND {_EXPIRED}
                    ORDER BY id LIMIT %(batch)s
                    FOR UPDATE SKIP LOCKED
                )
                DELETE FROM {table} t USING claimed WHERE t.id = claimed.id
                RETURNING t.id
                """,  # noqa: S608 - table name from the model, values as parameters
                {"after": after, "now": now, "batch": batch},
            )
            deleted = [row[0] for row in cursor.fetchall()]
        if not deleted:
            break
        report.tokens += len(deleted)
        report.batches += 1
        after = max(deleted)
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                DELETE FROM {sessions} WHERE session_key IN (
                    SELECT session_key FROM {sessions} WHERE expire_date < %s
                    LIMIT %s FOR UPDATE SKIP LOCKED
                )
                """,  # noqa: S608 - table name from the model, values as parameters
                [now, batch],
            )
            count = cursor.rowcount
        report.sessions += count
        if count == 0:
            break
        report.batches += 1
    return report


def _cleanup_portable(now: datetime, report: CleanupReport) -> CleanupReport:
    """SQLite (`make run`): one process, no row locks; same rule, plain deletes."""
    from django.db.models import Q

    expired = Token.objects.filter(expires_at__lt=now).filter(
        Q(refresh_token="") | Q(refresh_expires_at__lt=now)
    )
    report.tokens = expired.delete()[0]
    report.sessions = Session.objects.filter(expire_date__lt=now).delete()[0]
    report.batches = 1
    return report


# A login's tokens ---------------------------------------------------------------------------


@transaction.atomic
def token_delete(*, token: Token, actor: Account, ip: str | None = None) -> None:
    """Forget a token the portal holds (its owner deletes it, or an admin revokes it)."""
    by_admin = actor.pk != token.account_id
    audit_record(
        action="token.revoke" if by_admin else "token.delete",
        actor=actor,
        account=token.account,
        target=f"token:{token.token_hash[:12]}",
        detail={"idp": token.idp, "expires_at": token.expires_at.isoformat()},
        ip=ip,
    )
    token.delete()


def _jwt_claims_unverified(token: str) -> dict:
    # Only for bookkeeping (expiry, audience) of a token we just got from the token endpoint.
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}


def _expiry_from_claims(claims: dict) -> datetime | None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):  # 1e400 or a 400-digit number
        return None


@transaction.atomic
def login_token_store(
    *,
    account: Account,
    identity: Identity | None,
    idp: str,
    token_response: dict,
    ip: str | None = None,
) -> Token:
    """Keep the tokens a login brought (encrypted at rest, the access token also hashed).

    A new login (or a session renewal) of the same identity at the same provider replaces the
    rows the previous one left, so one login is one row that refreshes, never two."""
    now = timezone.now()
    replaced, _ = Token.objects.filter(account=account, identity=identity, idp=idp).delete()
    access_token = token_response["access_token"]
    claims = _jwt_claims_unverified(access_token)
    if isinstance(token_response.get("expires_in"), int | float):
        expires_at = now + timedelta(seconds=token_response["expires_in"])
    else:
        expires_at = _expiry_from_claims(claims) or now + timedelta(hours=1)
    audience = claims.get("aud", "")
    refresh_token = token_response.get("refresh_token") or ""
    refresh_expires_in = token_response.get("refresh_expires_in")
    token = Token(
        account=account,
        identity=identity,
        idp=idp,
        token_hash=token_hash(access_token),
        token=access_token,
        id_token=token_response.get("id_token", ""),
        scope=token_response.get("scope") or claims.get("scope", ""),
        audience=" ".join(audience) if isinstance(audience, list) else str(audience),
        expires_at=expires_at,
        refresh_token=refresh_token,
        refresh=bool(refresh_token),
        refresh_start=now if refresh_token else None,
        refresh_lifetime=timedelta(hours=settings.GATEHOUSE_LOGIN_REFRESH_LIFETIME_HOURS)
        if refresh_token
        else None,
        refresh_expires_at=now + timedelta(seconds=refresh_expires_in)
        if refresh_token and isinstance(refresh_expires_in, int) and refresh_expires_in > 0
        else None,
        ip=ip,
    )
    token.full_clean()
    token.save()
    if replaced:
        audit_record(
            action="token.replace",
            actor=account,
            account=account,
            target=f"idp:{idp}",
            detail={"replaced": replaced},
            ip=ip,
        )
    return token


STOP_FIELDS = {"refresh": False, "refresh_token": "", "refresh_expires_at": None}


@transaction.atomic
def tokens_refresh_stop_for_accounts(*, account_ids: list[int], reason: str) -> int:
    """Drop the refresh tokens of these accounts (suspended): nothing refreshes them again."""
    stopping = Token.objects.filter(account_id__in=account_ids).exclude(
        refresh=False, refresh_token=""
    )
    per_account = dict(
        stopping.values("account_id").annotate(n=Count("pk")).values_list("account_id", "n")
    )
    stopped = stopping.update(**STOP_FIELDS, refresh_error=reason[:300], updated=timezone.now())
    for account_id, count in per_account.items():
        audit_record(
            action="token.refresh.stop",
            account=Account(pk=account_id),
            comment=reason,
            detail={"tokens": count},
        )
    return stopped


def _login_chain(token: Token):
    """The rows of one login: the row it stored and those refreshing replaced it with (same
    account, identity, provider and refresh start)."""
    return Token.objects.filter(
        account_id=token.account_id,
        identity_id=token.identity_id,
        idp=token.idp,
        refresh_start=token.refresh_start,
    )


@transaction.atomic
def login_tokens_logout(*, account: Account, token_id: int | None) -> int:
    """Logout: the session's login stops refreshing (its refresh tokens are dropped)."""
    token = Token.objects.filter(pk=token_id, account=account).first() if token_id else None
    if token is None or token.refresh_start is None:
        return 0
    stopped = (
        _login_chain(token)
        .exclude(refresh=False, refresh_token="")
        .update(**STOP_FIELDS, refresh_error="Refreshing stopped: the session logged out.")
    )
    if stopped:
        audit_record(
            action="token.refresh.stop",
            actor=account,
            account=account,
            comment="logout",
            detail={"tokens": stopped},
        )
    return stopped
