"""Faults a test arms on the loopback SCIM service, per path and per page.

A rule matches a request by path (fnmatch pattern, e.g. "/scim/Groups/*/members") and,
optionally, by effective startIndex. It fires `times` times (None: always) after letting
`skip` matching requests through.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass

KINDS = ("status", "malformed", "total", "slow", "drop")


@dataclass
class Fault:
    path: str
    kind: str
    start_index: int | None = None
    times: int | None = 1
    skip: int = 0
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    total_delta: int = 1
    fired: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}, not {self.kind!r}")

    def matches(self, path: str, start_index: int) -> bool:
        if not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.start_index is None or self.start_index == start_index

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class FaultPlan:
    """The armed faults; the service asks `take()` for each request."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def take(self, path: str, start_index: int) -> Fault | None:
        """The first live rule for this request, counted as fired; None if nothing applies."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(path, start_index):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue
                rule.fired += 1
                return rule
        return None

    # The shorthands tests use.
    def fail_once(self, path: str, start_index: int | None = None, status: int = 500) -> Fault:
        return self.add(Fault(path, "status", start_index, times=1, status=status))

    def fail_always(self, path: str, start_index: int | None = None, status: int = 500) -> Fault:
        return self.add(Fault(path, "status", start_index, times=None, status=status))

    def throttle(
        self, path: str, start_index: int | None = None, retry_after: int = 1, times: int | None = 1
    ) -> Fault:
        return self.add(
            Fault(path, "status", start_index, times=times, status=429, retry_after=retry_after)
        )

    def malformed(
        self, path: str, start_index: int | None = None, times: int | None = None
    ) -> Fault:
        return self.add(Fault(path, "malformed", start_index, times=times))

    def contradict_total(
        self, path: str, start_index: int | None = None, delta: int = 1, times: int | None = None
    ) -> Fault:
        return self.add(Fault(path, "total", start_index, times=times, total_delta=delta))

    def slow(
        self, path: str, seconds: float, start_index: int | None = None, times: int | None = 1
    ) -> Fault:
        return self.add(Fault(path, "slow", start_index, times=times, delay=seconds))

    def drop(self, path: str, start_index: int | None = None, times: int | None = 1) -> Fault:
        """Close the connection without an answer (the client sees a connection error)."""
        return self.add(Fault(path, "drop", start_index, times=times))
