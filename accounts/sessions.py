"""Django's database sessions, each with the account logged in to it (SESSION_ENGINE).

Every logged-in request reads its session and then its account: two statements, which cost
PostgreSQL more than their answers (issue 16, "Page cost"). Here the session row carries the
account's id (accounts.models.Session, set whenever the session is saved), so one prepared read
(accounts/prepared.py) gives both; the account is handed to the authentication backend's
get_user (accounts/oidc/backend.py) for the user id the session names, in this request only.
Django still decides everything else: who the session's user is, the session hash check, expiry,
clean-up.
"""

from contextvars import ContextVar

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.signals import request_started
from django.db import router
from django.utils import timezone

from accounts.models import Account, Session
from accounts.prepared import PreparedQuery, instance_from_row

_SESSION_FIELDS = [f.attname for f in Session._meta.concrete_fields]
_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
_SESSION = PreparedQuery(
    lambda key: Session.objects.filter(session_key=key).values(
        *_SESSION_FIELDS, *(f"account__{f}" for f in _ACCOUNT_FIELDS)
    ),
    generic_plan=True,
    key=str,
)

# (account id, the account or None) read with the latest session of this request.
_READ_WITH_SESSION: ContextVar[tuple[int, Account | None] | None] = ContextVar(
    "read_with_session", default=None
)


def _forget(**kwargs) -> None:
    _READ_WITH_SESSION.set(None)


request_started.connect(_forget, dispatch_uid="accounts.sessions.forget")


def account_read_with_session(pk: int) -> tuple[bool, Account | None]:
    """(True, the account) when this request's session was read with account `pk` (None: no
    such account any more); (False, None) when it was not."""
    read = _READ_WITH_SESSION.get()
    if read is None or read[0] != pk:
        return False, None
    return True, read[1]


def _account_id(user_id) -> int | None:
    try:
        return int(user_id) if user_id is not None else None
    except (TypeError, ValueError):
        return None


class SessionStore(DatabaseSessionStore):
    @classmethod
    def get_model_class(cls):
        return Session

    def create_model_instance(self, data):
        session = super().create_model_instance(data)
        session.account_id = _account_id(data.get(SESSION_KEY))
        return session

    async def acreate_model_instance(self, data):
        session = await super().acreate_model_instance(data)
        session.account_id = _account_id(data.get(SESSION_KEY))
        return session

    def _get_session_from_db(self):
        _READ_WITH_SESSION.set(None)
        using = router.db_for_read(self.model)
        rows = _SESSION(key=self.session_key, using=using) if self.session_key else []
        if rows and rows[0]["expire_date"] > timezone.now():
            row = rows[0]
            if row["account_id"] is not None:
                # account__id is the session's own column: the join found the account when its
                # (non-null) name is there.
                found = row["account__name"] is not None
                account = (
                    instance_from_row(Account, row, "account__", using=using) if found else None
                )
                _READ_WITH_SESSION.set((row["account_id"], account))
            return instance_from_row(Session, row, using=using)
        self._session_key = None  # missing or expired, as Django's own lookup answers
        return None
