"""Answer 503 with Retry-After, not a 500 with a traceback, while the database is away."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse is unavailable</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Gatehouse is unavailable for a moment</h1>
<p>Its database cannot be reached. Nothing you sent was saved; try again in a minute.</p>
</main></body></html>
"""


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """A 503 that needs nothing from the database (no session, no user, no template context)."""
    wants_json = "application/json" in request.headers.get("Accept", "") or request.path.startswith(
        ("/exports/", "/.well-known/", "/oauth/")
    )
    if wants_json:
        response = HttpResponse(
            '{"error": "temporarily_unavailable", "error_description": "The database cannot '
            'be reached; try again in a minute."}',
            status=503,
            content_type="application/json",
        )
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that fails on the database answers 503 (one log line, by Django, per request)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, DATABASE_UNAVAILABLE):
            return database_unavailable_response(request)
        return None
