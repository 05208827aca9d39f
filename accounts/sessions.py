"""Django's database sessions, read with a prepared query (accounts/prepared.py).

Every logged-in request reads its session; the ORM's compilation of that one-row lookup cost
more than PostgreSQL's answer (issue 16, "Page cost"). Storage, expiry, clean-up and every
other behaviour are Django's (SESSION_ENGINE = "accounts.sessions").
"""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import router
from django.utils import timezone

from accounts.prepared import PreparedQuery

_SESSION = PreparedQuery(
    lambda key: Session.objects.filter(session_key=key), generic_plan=True, key=str
)


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        using = router.db_for_read(self.model)
        found = _SESSION(key=self.session_key, using=using) if self.session_key else []
        if found and found[0].expire_date > timezone.now():
            return found[0]
        self._session_key = None  # missing or expired, as Django's own lookup answers
        return None
