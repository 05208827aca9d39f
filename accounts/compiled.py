"""Querysets compiled to SQL once per process and run with new values: for the hottest reads.

Django compiles a queryset to SQL every time it is evaluated. For the small lookups of the token
endpoint that costs more than PostgreSQL takes to answer them (0.3-0.6 ms each on the bench
machine). A `CompiledQuery` builds its queryset once, with marker values standing in for the
real ones, keeps the SQL, and runs it as a raw query with the real values in the markers'
places; rows become model instances as the ORM makes them (`QuerySet.raw`, with the fields'
converters). The queryset itself is still written once, by the selector that owns the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet


class CompiledQuery[M: Model]:
    """`build(**markers)` compiled once; `rows(**values)` runs it with `values` in their places.

    Every marker must reach the SQL as exactly one parameter, equal to it and of its type (pick
    values the query cannot hold otherwise, e.g. a negative id); compiling refuses anything
    else, so a marker can never stand for the wrong parameter. The queryset must load plain
    model rows (no select_related, values(), only() or annotations).
    """

    def __init__(self, build: Callable[..., QuerySet[M]], **markers: Any) -> None:
        self._build = build
        self._markers = markers
        self._compiled: tuple[QuerySet[M], str, tuple, dict[str, int]] | None = None

    def _compile(self) -> tuple[QuerySet[M], str, tuple, dict[str, int]]:
        queryset = self._build(**self._markers)
        query = queryset.query
        if (
            query.select_related
            or query.annotations
            or query.values_select
            or any(query.deferred_loading[0])
        ):
            raise ValueError("A CompiledQuery loads whole model rows only.")
        sql, params = query.get_compiler(using=queryset.db).as_sql()
        places = {}
        for name, marker in self._markers.items():
            found = [i for i, p in enumerate(params) if type(p) is type(marker) and p == marker]
            if len(found) != 1:
                raise ValueError(
                    f"Marker {name}={marker!r} is {len(found)} parameters of the compiled query, "
                    "not one: pick a marker value the query cannot otherwise hold."
                )
            places[name] = found[0]
        self._compiled = (queryset, sql, tuple(params), places)
        return self._compiled

    def rows(self, **values: Any) -> list[M]:
        if values.keys() != self._markers.keys():
            raise TypeError(f"Give exactly {', '.join(self._markers)}.")
        queryset, sql, params, places = self._compiled or self._compile()
        bound = list(params)
        for name, value in values.items():
            bound[places[name]] = value
        return list(queryset.model.objects.db_manager(queryset.db).raw(sql, bound))
