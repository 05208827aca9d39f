"""WLCG capability scopes: what a token allows, where, and which rule decided.

Follows the WLCG Common JWT Profile v1.2, section "Capability-based Authorization: scope":
`storage.modify` "is a strict superset of storage.create"; `storage.stage` no longer allows
reading (v1.0 said it did; v1.2 removed that and says conforming implementations "MUST apply the
current definition regardless of the value of the wlcg.ver claim"); `storage.stage` also
authorizes `poll`, and `storage.poll` alone allows only polling; a `storage.*` scope without
`$PATH` means
"the token MUST be rejected", `$PATH` with a trailing `/` "MUST be treated as a directory",
paths are relative to the issuer's area at the storage element, and a token with any
capability statement has its group-membership statements ignored ("Interpretation of
Authorization by the Resource Server").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from accounts.storage_paths import (
    PathRejected,
    path_covers,
    path_covers_why,
    path_join_base,
    path_normalise,
)

STORAGE_OPERATIONS = ("read", "create", "modify", "stage", "poll")
COMPUTE_OPERATIONS = ("read", "modify", "create", "cancel")

# Which granted operations cover a requested one (WLCG profile v1.2).
COVERED_BY = {
    "read": ("read",),
    "create": ("create", "modify"),
    "modify": ("modify",),
    "stage": ("stage",),
    "poll": ("poll", "stage"),
}
_IMPLICATION_RULE = {
    ("create", "modify"): "storage.modify is a strict superset of storage.create "
    "(WLCG profile v1.2)",
    ("poll", "stage"): "storage.stage also allows polling file locality (WLCG profile v1.2)",
}
_NOT_IMPLIED = {
    ("read", "stage"): "storage.stage no longer implies read (WLCG profile v1.2, whatever the "
    "token's wlcg.ver); reading needs storage.read",
    ("stage", "read"): "storage.read does not allow staging from tape; that needs storage.stage",
    ("modify", "create"): "storage.create never allows overwriting or deleting; that needs "
    "storage.modify",
    ("read", "create"): "storage.create does not allow reading; that needs storage.read",
    ("read", "modify"): "storage.modify does not allow reading; that needs storage.read",
}


def _denial(operation: str, requested: str, held: dict[str, StorageGrant], base_path: str) -> str:
    if not held:
        base = (
            f" (scope paths start at the issuer's base path {base_path})"
            if base_path != "/"
            else ""
        )
        return f"Denied: no storage.{operation} scope covers {requested}{base}."
    for have, grant in held.items():
        hint = _NOT_IMPLIED.get((operation, have))
        if hint:
            return f"Denied: {grant.scope} covers {requested}, but {hint}."
    scopes = ", ".join(grant.scope for grant in held.values())
    needed = " or ".join(f"storage.{op}" for op in COVERED_BY[operation])
    return (
        f"Denied: {scopes} cover{'s' if len(held) == 1 else ''} {requested}, but {operation} "
        f"needs {needed}."
    )


@dataclass(frozen=True, slots=True)
class StorageGrant:
    scope: str
    operation: str
    path: str


@dataclass(frozen=True, slots=True)
class InvalidScope:
    scope: str
    reason: str
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rule: str
    grant: StorageGrant | None = None
    warning: str = ""  # a storage element that would decide otherwise (string-prefix matching)


@dataclass(frozen=True, slots=True)
class TableRow:
    path: str
    cells: dict[str, Decision]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Parsed `scope` claim plus `wlcg.groups`, answering questions at one storage element."""

    storage: tuple[StorageGrant, ...] = ()
    compute: tuple[str, ...] = ()
    invalid: tuple[InvalidScope, ...] = ()
    other: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    base_path: str = "/"
    _joined: tuple[tuple[StorageGrant, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def has_capability_scopes(self) -> bool:
        return bool(self.storage or self.compute)

    @property
    def groups_ignored(self) -> bool:
        return bool(self.groups) and self.has_capability_scopes

    def at(self, base_path: str) -> Capabilities:
        """The same scopes at a storage element where the issuer's area is `base_path`."""
        return parse_capabilities(
            [g.scope for g in self.storage]
            + list(self.compute)
            + list(self.other)
            + [i.scope for i in self.invalid],
            groups=self.groups,
            base_path=base_path,
        )

    def may(self, operation: str, path: str) -> Decision:
        """May the bearer do `operation` (read/create/modify/stage/poll) on `path`?

        `path` is the full path at the storage element, i.e. including the issuer's base path.
        """
        operation = operation.removeprefix("storage.")
        if operation not in COVERED_BY:
            return Decision(
                False,
                f"{operation!r} is not a storage operation; use one of "
                + ", ".join(STORAGE_OPERATIONS),
            )
        try:
            requested = path_normalise(path)
        except PathRejected as error:
            return Decision(False, f"Refused: {error}.")
        fatal = next((i for i in self.invalid if i.fatal), None)
        if fatal is not None:
            return Decision(False, f"The whole token is refused: {fatal.scope!r} {fatal.reason}.")
        if not self.has_capability_scopes:
            if self.groups:
                return Decision(
                    False,
                    "The token carries no capability scopes, so the storage "
                    "element decides from its own mapping of wlcg.groups "
                    f"({', '.join(self.groups)}); Gatehouse cannot tell.",
                )
            return Decision(False, "The token carries no storage scopes and no groups.")
        note = (
            " wlcg.groups are ignored because the token carries capability scopes."
            if self.groups_ignored
            else ""
        )
        held: dict[str, StorageGrant] = {}
        directory_only = None
        for grant, joined in self._joined:
            match, why = path_covers_why(joined, requested)
            if not match:
                if (
                    requested == joined.rstrip("/") != joined
                    and grant.operation in COVERED_BY[operation]
                ):
                    directory_only = directory_only or f"Denied by {grant.scope}: {why}."
                continue
            if grant.operation in COVERED_BY[operation]:
                via = _IMPLICATION_RULE.get((operation, grant.operation))
                rule = f"Allowed by {grant.scope}: {why}" + (f"; {via}" if via else "") + "."
                return Decision(True, rule + note, grant)
            held.setdefault(grant.operation, grant)
        warning = self._string_prefix_warning(operation, requested)
        if directory_only and not held:
            return Decision(False, directory_only + note + warning, warning=warning.strip())
        return Decision(
            False,
            _denial(operation, requested, held, self.base_path) + note + warning,
            warning=warning.strip(),
        )

    def _string_prefix_warning(self, operation: str, requested: str) -> str:
        """XRootD 5.5's SciTokens plugin compares scope paths as strings: `/c4` opens `/c42`."""
        for grant, joined in self._joined:
            root = joined.rstrip("/")
            if grant.operation in COVERED_BY[operation] and root and requested.startswith(root):
                return (
                    f" Warning: {grant.scope} is a string prefix of {requested} without covering "
                    "it by whole segments; XRootD's SciTokens plugin (Debian's 5.5) compares "
                    "paths as strings and would allow it. Ask the issuer for a narrower scope."
                )
        return ""

    def table(self, paths: Iterable[str] | None = None) -> list[TableRow]:
        """Operations x paths; by default the paths the scopes name, joined with the base path."""
        if paths is None:
            paths = dict.fromkeys(joined for _grant, joined in self._joined)
        return [
            TableRow(path, {op: self.may(op, path) for op in STORAGE_OPERATIONS}) for path in paths
        ]


def parse_capabilities(
    scope: str | Iterable[str] | None, *, groups: Iterable[str] = (), base_path: str = "/"
) -> Capabilities:
    """Split a `scope` claim (space-separated string, or a list) into grants."""
    items = scope.split() if isinstance(scope, str) else list(scope or ())
    storage: list[StorageGrant] = []
    compute: list[str] = []
    invalid: list[InvalidScope] = []
    other: list[str] = []
    for item in items:
        if not isinstance(item, str):
            invalid.append(InvalidScope(repr(item), "is not a string"))
            continue
        name, sep, raw_path = item.partition(":")
        if name.startswith("storage."):
            operation = name.removeprefix("storage.")
            if operation not in COVERED_BY:
                invalid.append(
                    InvalidScope(
                        item,
                        "is not a storage capability of the WLCG profile; storage elements "
                        "ignore it",
                        fatal=False,
                    )
                )
            elif not sep or not raw_path:
                invalid.append(
                    InvalidScope(
                        item,
                        "has no path; the WLCG profile says such a token MUST be rejected "
                        "(use storage.read:/ for the whole area)",
                    )
                )
            else:
                try:
                    storage.append(StorageGrant(item, operation, path_normalise(raw_path)))
                except PathRejected as error:
                    invalid.append(InvalidScope(item, f"has a path that was refused: {error}"))
        elif name.startswith("compute."):
            if name.removeprefix("compute.") in COMPUTE_OPERATIONS:
                compute.append(item)
            else:
                invalid.append(
                    InvalidScope(
                        item, "is not a compute capability of the WLCG profile", fatal=False
                    )
                )
        else:
            other.append(item)
    base = path_normalise(base_path)
    joined = tuple((grant, path_join_base(base, grant.path)) for grant in storage)
    return Capabilities(
        storage=tuple(storage),
        compute=tuple(compute),
        invalid=tuple(invalid),
        other=tuple(other),
        groups=tuple(g for g in groups if isinstance(g, str)),
        base_path=base,
        _joined=joined,
    )


def scopes_needed(operation: str, path: str, *, base_path: str = "/") -> list[str]:
    """The narrowest scopes a token needs for `operation` on the storage path `path`.

    For the campaign hook: `path` is the full path at the storage element; the answer is
    relative to the issuer's base path, smallest scope first.
    """
    operation = operation.removeprefix("storage.")
    requested = path_normalise(path)
    base = path_normalise(base_path).rstrip("/")
    if not path_covers(base or "/", requested):
        raise PathRejected(f"{path} is outside the issuer's area {base_path}")
    relative = requested[len(base) :] or "/"
    return [f"storage.{granting}:{relative}" for granting in COVERED_BY[operation]]


@functools.lru_cache(maxsize=1024)
def _capabilities_cached(
    scope: tuple[str, ...], groups: tuple[str, ...], base_path: str
) -> Capabilities:
    return parse_capabilities(scope, groups=groups, base_path=base_path)


def capabilities_of(
    scope: Iterable[str], *, groups: Iterable[object] = (), base_path: str = "/"
) -> Capabilities:
    """`parse_capabilities` memoised: many tokens carry the same scopes (the result is frozen)."""
    strings = tuple(g for g in groups if isinstance(g, str))
    return _capabilities_cached(tuple(scope), strings, base_path)
