"""Counting a test's round trips to PostgreSQL."""

import tempfile

from django.db import connection


def round_trips(run) -> int:
    """How many round trips to PostgreSQL run() makes: each ends with the server's
    ReadyForQuery, counted in libpq's trace of the connection."""
    from psycopg.pq import Trace  # psycopg is there only on PostgreSQL

    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            run()
        finally:
            pgconn.untrace()
        trace.seek(0)
        return sum("\tReadyForQuery\t" in line for line in trace)
