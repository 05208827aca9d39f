"""Fixed-shape reads whose SQL Django compiles once per process instead of on every request.

Building and compiling a queryset costs Django 0.3-2 ms of CPU (the more subqueries, the more),
while PostgreSQL answers these reads in a fraction of that. The busiest pages ask the same
handful of reads with other values on every request (issue 16, "Page cost"), so a
PreparedQuery keeps what Django compiled: its `build` function, the ORM queryset that states
the rule (the one implementation of it), is called once with marker values, and each call then
runs the kept SQL with the caller's values in the markers' places and applies the fields' own
converters, giving the rows `.values()` would give.

`build` returns a `.values(...)` queryset (the call gives dicts, as .values() does) or a plain
one loading whole rows of its model (the call gives model instances), without slicing: `limit=`
and `offset=` append LIMIT/OFFSET (PostgreSQL and SQLite both read them). Every parameter must
reach the SQL as a parameter of its own, unchanged: a marker that Django rewrites (a LIKE
pattern for `__icontains`), splits (a list given to `__in`) or inlines is refused when the
query is first compiled, so a query that cannot be kept never runs with the wrong values.
Nothing but the SQL text is kept: every call reads the database.

With `generic_plan=True` PostgreSQL keeps the plan too: the query is a prepared statement of
each database connection, planned once with its parameters unknown (a generic plan), where
otherwise PostgreSQL parses and plans it again on every call. Planning those reads cost
PostgreSQL more than running them (0.1-0.3 ms against 0.005-0.1 ms). The query's own
constants (a status, a role) are written into the statement as literals (_with_constants), so
that the generic plan can use the partial indexes they match; only the callers' values stay
parameters. Only for reads whose best plan does not depend much on those values:
bench/bench_plans.py compares each such read's generic plan with a per-call one on the seeded
database. The connections are set up for it by webui/settings.py (plan_cache_mode). psycopg
forgets a connection's prepared statements after a rollback (DEALLOCATE ALL), so they are
prepared again on their next call. GATEHOUSE_DB_PREPARED_STATEMENTS=0 makes these reads plain
ones, for a pooler that cannot keep prepared statements (PgBouncer before 1.22, or without
max_prepared_statements, in transaction mode).

read_together() asks several such reads (a page's independent ones) in one round trip. The
request's first read is also its connection's health check (_checks_health).
"""

import contextlib
import datetime
import functools
import re
import threading
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import InterfaceError, NotSupportedError, OperationalError, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model, QuerySet, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.utils.asyncio import async_unsafe

# Values a page never sends; each stands for one named parameter while Django compiles. The
# query is compiled twice, with two sets (`round` 0 and 1) far apart: the SQL and every other
# parameter must come out the same, so a value Django wrote into the SQL text, or changed before
# binding it, is caught instead of kept.
_MARKERS: dict[type, Callable[[int, int], object]] = {
    str: lambda i, round: f"\x1fprepared-parameter-{round}-{i}\x1f",
    int: lambda i, round: -1_987_654_321 - 1_000_000 * round - i,
    datetime.date: lambda i, round: (
        datetime.date(1111 + 444 * round, 1, 1) + datetime.timedelta(days=i)
    ),
    list: lambda i, round: [f"\x1fprepared-parameter-{round}-{i}\x1f"],  # one array (`?|`)
}


def _bound(value, connection):
    """`value` as Django hands it to the driver: SQLite takes dates as text."""
    if type(value) is datetime.date:
        return connection.ops.adapt_datefield_value(value)
    return value


class PreparedQueryError(TypeError):
    """The queryset cannot be kept as SQL with parameters (see the module docstring)."""


class _Compiled:
    __slots__ = ("sql", "slots", "names", "converters", "model", "generic")

    def __init__(self, sql, slots, names, converters, model) -> None:
        self.sql, self.slots, self.names, self.converters = sql, slots, names, converters
        self.model = model  # rows become instances of it; None: rows are dicts
        self.generic = None  # (sql, slots) with the constants written in: _with_constants()


_PLACEHOLDER = re.compile(r"(%%|%s)")


def _with_constants(compiled: _Compiled, connection) -> tuple[str, list]:
    """The SQL with the query's own constants (a status, a role) written in as literals, and
    only the callers' values left as parameters. A generic plan knows the literals, so it can
    use the partial indexes they match; with them as parameters it could not, and the
    campaign list's generic plan ran 140x slower. The literals are psycopg's, as it writes
    every value of Django's client-side bound queries; none is a caller's value."""
    pieces = _PLACEHOLDER.split(compiled.sql)
    if pieces.count("%s") != len(compiled.slots):
        raise PreparedQueryError("the SQL's placeholders are not the query's parameters")
    sql, slots, position = [], [], 0
    for piece in pieces:
        if piece != "%s":
            sql.append(piece)
            continue
        is_parameter, value = compiled.slots[position]
        position += 1
        if is_parameter:
            sql.append("%s")
            slots.append((True, value))
        else:
            sql.append(connection.ops.compose_sql("%s", [value]).replace("%", "%%"))
    return "".join(sql), slots


class PreparedQuery:
    """`PreparedQuery(build, slug=str, today=datetime.date)(slug="x", today=...)` -> rows."""

    def __init__(
        self, build: Callable[..., QuerySet], *, generic_plan: bool = False, **parameters: type
    ) -> None:
        unknown = {name: kind for name, kind in parameters.items() if kind not in _MARKERS}
        if unknown:
            raise PreparedQueryError(f"no marker for parameters {unknown}")
        self.build = build
        self.generic_plan = generic_plan
        self.parameters = parameters
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, using: str) -> _Compiled:
        connection = connections[using]
        first = self._compile_with(using, connection, 0)
        second = self._compile_with(using, connection, 1)
        if first.sql != second.sql or first.slots != second.slots:
            raise PreparedQueryError("a value changes the SQL text: run it as a queryset")
        return first

    def _compile_with(self, using: str, connection, round: int) -> _Compiled:
        markers = {
            name: _MARKERS[kind](i, round) for i, (name, kind) in enumerate(self.parameters.items())
        }
        queryset = self.build(**markers).using(using)
        query = queryset.query
        if query.low_mark or query.high_mark is not None:
            raise PreparedQueryError("slice with limit= and offset=, not in build()")
        whole_rows = queryset._fields is None
        if whole_rows and (
            query.select_related
            or query.annotations
            or query.extra
            or any(query.deferred_loading[0])
        ):
            raise PreparedQueryError("build() must return .values(...) or whole model rows")
        compiler = query.get_compiler(using)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet as exc:
            raise PreparedQueryError("the query can never match: run it as a queryset") from exc
        bound = {name: _bound(marker, connection) for name, marker in markers.items()}
        slots, seen = [], set()
        for value in params:
            name = next(
                (n for n, m in bound.items() if type(value) is type(m) and value == m), None
            )
            if name is not None:
                slots.append((True, name))
                seen.add(name)
                continue
            if any(_holds_marker(value, m) for m in bound.values()):
                raise PreparedQueryError(f"a parameter is rewritten by Django: {value!r}")
            slots.append((False, value))
        if missing := set(markers) - seen:
            raise PreparedQueryError(f"parameters {sorted(missing)} do not reach the SQL")
        if whole_rows:
            names = [f.attname for f in queryset.model._meta.concrete_fields]
        elif query.selected:
            names = list(query.selected)
        else:
            names = [*query.extra_select, *query.values_select, *query.annotation_select]
        fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
        if len(fields) != len(names):
            raise PreparedQueryError("the SQL's columns are not the queryset's fields")
        converters = list(compiler.get_converters(fields).items())
        return _Compiled(sql, slots, names, converters, queryset.model if whole_rows else None)

    def compiled(self, using: str = "default") -> _Compiled:
        key = (using, connections[using].vendor)
        if (compiled := self._compiled.get(key)) is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(using)
                self._compiled[key] = compiled
        return compiled

    def _statement(self, values: dict, using: str) -> tuple[_Compiled, str, list, bool]:
        """The compiled query, the SQL to run with these values, its parameters, and whether
        it is prepared."""
        if values.keys() != self.parameters.keys():
            raise TypeError(f"expected parameters {sorted(self.parameters)}")
        compiled = self.compiled(using)
        connection = connections[using]
        prepares = self.generic_plan and _prepares(connection)
        sql, slots = compiled.sql, compiled.slots
        if prepares:
            if compiled.generic is None:
                connection.ensure_connection()
                compiled.generic = _with_constants(compiled, connection)
            sql, slots = compiled.generic
        params = [_bound(values[v], connection) if is_parameter else v for is_parameter, v in slots]
        return compiled, sql, params, prepares

    def read(self, *, limit: int | None = None, offset: int = 0, **values) -> "Read":
        """This read with these values, for read_together(); `limit=`, `offset=` as for a call."""
        return Read(self, values, limit, offset, counted=False)

    def counted(self, **values) -> "Read":
        """How many rows the read gives with these values, for read_together()."""
        return Read(self, values, None, 0, counted=True)

    def __call__(
        self, *, limit: int | None = None, offset: int = 0, using: str = "default", **values
    ) -> list:
        return read_together(self.read(limit=limit, offset=offset, **values), using=using)[0]

    def count(self, *, using: str = "default", **values) -> int:
        """How many rows the query gives (COUNT(*) over it, one row back)."""
        return read_together(self.counted(**values), using=using)[0]

    def _result(self, compiled: _Compiled, rows: list, connection, using: str) -> list:
        names, converters, model = compiled.names, compiled.converters, compiled.model
        result = []
        for row in rows:
            if converters:
                row = list(row)
                for position, (functions, expression) in converters:
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
            result.append(
                dict(zip(names, row, strict=True))
                if model is None
                else _instance(model, names, row, using)
            )
        return result


class Read(NamedTuple):
    """A PreparedQuery with its values: its rows (LIMIT/OFFSET when given) or their count."""

    query: PreparedQuery
    values: dict
    limit: int | None
    offset: int
    counted: bool

    def statement(self, using: str) -> tuple[_Compiled, str, list, bool]:
        compiled, sql, params, prepares = self.query._statement(self.values, using)
        if self.counted:
            sql = f"SELECT COUNT(*) FROM ({sql}) AS counted"  # noqa: S608 (Django's SQL; values are parameters)
        elif self.limit is not None:
            sql = f"{sql} LIMIT %s OFFSET %s"
            params += [int(self.limit), int(self.offset)]
        return compiled, sql, params, prepares


def read_together(*reads: Read, using: str = "default") -> list:
    """Each read's rows (or count, for a `counted` one), in the order given.

    When they are all prepared statements (generic-plan reads on PostgreSQL), they go to the
    database in one round trip, psycopg's pipeline mode: a page's independent reads (the
    campaign list's count and rows, a campaign's managers and members) cost one wake-up of the
    database backend and of the web worker instead of one each. Otherwise one after the other.
    """
    connection = connections[using]
    statements = [read.statement(using) for read in reads]
    prepares = any(prepares for *_, prepares in statements)
    together = len(statements) > 1 and all(prepares for *_, prepares in statements)
    checks_health = _checks_health(connection)
    try:
        fetched = _fetch(connection, statements, together)
    except NotSupportedError:
        # "cached plan must not change result type": a migration changed what a prepared
        # statement reads, and psycopg keeps it. Outside a transaction, start again on a new
        # connection (whose statements are prepared anew); inside one, the caller decides.
        if not prepares or connection.in_atomic_block:
            raise
        connection.close()
        fetched = _fetch(connection, statements, together)
    except (OperationalError, InterfaceError):
        if not checks_health or connection.is_usable():  # the error is the read's own
            raise
        connection.close()  # the connection had died: what Django's health check would do
        fetched = _fetch(connection, statements, together)
    return [
        rows[0][0] if read.counted else read.query._result(compiled, rows, connection, using)
        for read, (compiled, *_), rows in zip(reads, statements, fetched, strict=True)
    ]


def _checks_health(connection) -> bool:
    """Whether these reads stand in for the health check Django makes before a request's first
    query (CONN_HEALTH_CHECKS, a `SELECT 1` round trip): a read outside a transaction can be
    asked again, so on a dead connection it is, on a new one, as the check would have replaced
    it; on a live one the request saves the round trip (every logged-in page's first query is
    its session's read)."""
    if (
        not connection.health_check_enabled
        or connection.health_check_done
        or connection.connection is None  # connecting needs no check
        or connection.in_atomic_block
    ):
        return False
    connection.health_check_done = True
    return True


def _fetch(connection, statements: list, together: bool) -> list[list]:
    if not together:
        fetched = []
        for _compiled, sql, params, prepares in statements:
            with _cursor(connection, prepares) as cursor:
                cursor.execute(sql, params)
                fetched.append(cursor.fetchall())
        return fetched
    # psycopg may learn that the server went away only when the pipeline ends, outside Django's
    # cursor: its error is made Django's here as a cursor's would be (a 503, not a 500).
    with connection.wrap_database_errors, contextlib.ExitStack() as stack:
        cursors = [stack.enter_context(_cursor(connection, True)) for _ in statements]
        stack.enter_context(connection.connection.pipeline())  # innermost: ends before the cursors
        for cursor, (_compiled, sql, params, _prepares) in zip(cursors, statements, strict=True):
            cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]


def _prepares(connection) -> bool:
    """Whether generic-plan reads are prepared statements on this connection."""
    return connection.vendor == "postgresql" and settings.GATEHOUSE_DB_PREPARED_STATEMENTS


@async_unsafe
def _cursor(connection, prepares: bool):
    """A cursor of `connection` as connection.cursor() gives it (queries logged and wrapped as
    Django's are), preparing its statements server-side when `prepares`."""
    if not prepares:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = _preparing_cursor()(connection.connection)
    # As Django's create_cursor: the site's time zone when the connection's differs (tests).
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    loader = connection.connection.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT)
    if connection.timezone != loader.timezone:
        register_tzloader(connection.timezone, raw)
    if connection.queries_logged:
        return _PreparedDebugCursor(raw, connection)
    return connection.make_cursor(raw)


_TIMESTAMPTZ_OID = 1184


class _PreparedDebugCursor(CursorDebugWrapper):
    """Logs a prepared read as Django logs its server-side bound queries: the SQL with the
    values composed in (psycopg keeps no query text for a prepared statement's execution)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)


@functools.cache
def _preparing_cursor() -> type:
    """Django's server-binding psycopg cursor, each of whose statements is a prepared one of
    its connection (psycopg keeps them by SQL text, at most 100 a connection)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        def execute(self, query, params=None, **kwargs):
            return super().execute(query, params, prepare=True)

    return PreparingCursor


def _holds_marker(value, marker) -> bool:
    """Whether Django made `value` from `marker` (a LIKE pattern, a list split into items)."""
    texts = marker if isinstance(marker, list) else [marker]
    return any(isinstance(text, str) and isinstance(value, str) and text in value for text in texts)


def instance_from_row(model: type[Model], row: dict, prefix: str = "", *, using: str = "default"):
    """A model instance from a row's `prefix`+field values (attnames, e.g. "pi__name" with prefix
    "pi__"); the fields the row lacks are deferred, as with .only()."""
    names, keys = _row_fields(model, prefix, tuple(row))
    return _instance(model, names, [row[key] for key in keys], using)


@functools.lru_cache(maxsize=256)
def _row_fields(model: type[Model], prefix: str, keys: tuple[str, ...]) -> tuple[list, list]:
    """The model's fields that rows with these keys give (a query's rows all have the same)."""
    present = set(keys)
    names = [f.attname for f in model._meta.concrete_fields if prefix + f.attname in present]
    return names, [prefix + name for name in names]


def _instance(model: type[Model], names: list[str], values, using: str) -> Model:
    """What `model.from_db(using, names, values)` makes, without running Model.__init__ when
    that does nothing but store the values: __init__ sends two signals and walks every field,
    which cost more than the rest of a row (25-50 rows a page). A field not given is deferred:
    absent from __dict__, as Django defers it."""
    if not _plain_init(model):
        return model.from_db(using, names, list(values))
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = instance._state = ModelState()
    state.adding, state.db = False, using
    return instance


_PLAIN_INIT: dict[type, bool] = {}


def _plain_init(model: type[Model]) -> bool:
    """Whether from_db and __init__ would only store the values on the instance: neither
    overridden, nobody listening to pre_init/post_init for the model, and every field read
    through Django's plain (deferred-loading) descriptor. Receivers connected later are seen
    on the next call."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return False
    if (plain := _PLAIN_INIT.get(model)) is None:
        plain = _PLAIN_INIT[model] = (
            model.from_db.__func__ is Model.from_db.__func__
            and model.__init__ is Model.__init__
            and all(
                type(model.__dict__.get(field.attname))
                in (DeferredAttribute, ForeignKeyDeferredAttribute)
                for field in model._meta.concrete_fields
            )
        )
    return plain
