"""Who is using the token on whose behalf: RFC 8693 `act`/`may_act`, `client_id`, `azp`, `jti`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_ACT_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Actor:
    sub: str | None
    iss: str | None = None
    client_id: str | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        who = self.sub or self.client_id or "(no sub)"
        return f"{who} @ {self.iss}" if self.iss else who


@dataclass(frozen=True, slots=True)
class Delegation:
    """`actors` lists the current actor first, then earlier actors (RFC 8693 §4.1)."""

    actors: tuple[Actor, ...] = ()
    may_act: Actor | None = None
    client_id: str | None = None
    azp: str | None = None
    jti: str | None = None
    problems: tuple[str, ...] = ()


def _actor(value: dict[str, Any]) -> Actor:
    def text(name: str) -> str | None:
        item = value.get(name)
        return item if isinstance(item, str) else None

    other = {k: v for k, v in value.items() if k not in ("sub", "iss", "client_id", "act")}
    return Actor(text("sub"), text("iss"), text("client_id"), other)


def act_chain(claims: dict[str, Any]) -> tuple[tuple[Actor, ...], tuple[str, ...]]:
    """Walk nested `act` claims, outermost (the current actor) first."""
    actors: list[Actor] = []
    problems: list[str] = []
    current = claims.get("act")
    while current is not None:
        if not isinstance(current, dict):
            problems.append("an `act` claim is not a JSON object, so the chain stops there")
            break
        if len(actors) >= MAX_ACT_DEPTH:
            problems.append(
                f"the `act` chain is deeper than {MAX_ACT_DEPTH}; the rest is not shown"
            )
            break
        actors.append(_actor(current))
        current = current.get("act")
    return tuple(actors), tuple(problems)


def delegation_of(claims: dict[str, Any]) -> Delegation:
    actors, problems = act_chain(claims)
    may_act_value = claims.get("may_act")
    may_act = None
    if isinstance(may_act_value, dict):
        may_act = _actor(may_act_value)
    elif may_act_value is not None:
        problems += ("`may_act` is not a JSON object",)

    def text(name: str) -> str | None:
        item = claims.get(name)
        return item if isinstance(item, str) else None

    return Delegation(actors, may_act, text("client_id"), text("azp"), text("jti"), problems)
