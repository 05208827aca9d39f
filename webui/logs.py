"""Logging pieces: one line, not a traceback, per request while the database is away, and
admin error mail that cannot flood an inbox."""

import logging
import threading
import time

from accounts.mail import AdminMailHandler
from webui.middleware import DATABASE_UNAVAILABLE


class DatabaseUnavailableFilter(logging.Filter):
    """Keep the line, drop the traceback, when a request failed because the database is away."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, DATABASE_UNAVAILABLE):
            record.msg = f"{record.msg} (database unavailable: {type(exc).__name__})"
            record.exc_info = None
            record.exc_text = None
        return True


class ThrottledAdminEmailHandler(AdminMailHandler):
    """At most one mail per kind of error (logger, level, status) every ten minutes."""

    interval = 600.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sent: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        status = getattr(record, "status_code", None)
        kind = (record.name, record.levelno, status, record.exc_info and record.exc_info[0])
        now = time.monotonic()
        with self._lock:
            if now - self._sent.get(kind, -self.interval) < self.interval:
                return
            self._sent[kind] = now
        super().emit(record)
