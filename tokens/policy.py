"""Who gets which storage token: the issuer's one policy, explained like "who can read this path".

Reading follows the access rule of campaigns/selectors.py (`path_access`, `viewer_for`), so a
token never allows more than the storage mapping files do:

- an active account that is an approved member, a manager or the PI of a campaign gets
  `storage.read` on the campaign's data paths while the embargo runs (`storage.stage` too where
  the storage element keeps them on tape); after the embargo every active account may;
- PIs and managers may also get `storage.create` and `storage.modify` under those paths;
- an archived campaign grants nothing, a suspended account gets nothing;
- a scope path that lies above another campaign's path, or is a string prefix of one (XRootD
  matches `storage.read:/c4` against `/c42`), is given only to who may use that path as well;
- registered clients stay within their storage elements, path prefixes and operations.

A request may ask for less (a sub-path down to one file, fewer operations, a shorter lifetime);
the policy never widens it. A refusal is a `Refused` naming its rule and saying what to do.
"""

from __future__ import annotations

import bisect
import datetime
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import Account
from campaigns.models import Campaign
from campaigns.selectors import AccessReason, path_access, viewer_for
from tokens.models import STORAGE_SCOPE_OPERATIONS, OAuthClient, StorageElement
from tokens.paths import path_covers, path_join, path_relative, storage_path

WRITE_OPERATIONS = ("create", "modify")
_SCOPE = re.compile(r"storage\.(read|create|modify|stage):(/\S*)\Z")


class Refused(Exception):
    """A request the policy refuses. `rule` names the rule, `error` is the OAuth error code."""

    def __init__(self, rule: str, message: str, *, error: str = "access_denied") -> None:
        super().__init__(message)
        self.rule = rule
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    operation: str
    path: str  # relative to the storage element's base path, canonical

    @property
    def scope(self) -> str:
        return f"storage.{self.operation}:{self.path}"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the policy allows: the scopes (as asked), the lifetime, and why, per scope."""

    scopes: tuple[ScopeRequest, ...]
    lifetime: timedelta
    reasons: tuple[str, ...]

    @property
    def scope(self) -> str:
        return " ".join(item.scope for item in self.scopes)


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> list[ScopeRequest]:
    """WLCG storage scopes ('storage.read:/nightsky/f.fits ...') as requests; Refused otherwise."""
    # RFC 6749 §3.3: scopes are separated by spaces; any other whitespace is refused below.
    words = [w for w in text.split(" ") if w] if isinstance(text, str) else list(text)
    if not words:
        raise Refused(
            "scope-missing",
            "Name the scopes you need, e.g. scope=storage.read:/nightsky (paths relative to the "
            "storage element's base path).",
            error="invalid_scope",
        )
    found: list[ScopeRequest] = []
    for word in words:
        match = _SCOPE.fullmatch(word)
        if match is None:
            raise Refused(
                "scope-syntax",
                f"{word!r} is not a storage scope Gatehouse issues: write "
                f"storage.<{'|'.join(STORAGE_SCOPE_OPERATIONS)}>:<absolute path>.",
                error="invalid_scope",
            )
        try:
            path = storage_path(match.group(2))
        except ValueError as exc:
            raise Refused(
                "path-unsafe",
                f"{word!r} is refused: {str(exc).rstrip('.')}.",
                error="invalid_scope",
            ) from None
        request = ScopeRequest(match.group(1), path)
        if request not in found:
            found.append(request)
    return found


_WHITESPACE = re.compile(r"\s")


def _scope_path_writable(item: ScopeRequest) -> None:
    """A scope is one word of a space-separated claim: a path with whitespace would split it."""
    if _WHITESPACE.search(item.path):
        raise Refused(
            "path-unsafe",
            f"{item.path!r} contains whitespace, which a token scope cannot hold: ask for the "
            "folder that contains it.",
            error="invalid_scope",
        )


def _lifetime(element: StorageElement, asked: timedelta | None) -> timedelta:
    if asked is None:
        return element.max_lifetime
    if asked <= timedelta(0) or asked > element.max_lifetime:
        raise Refused(
            "lifetime",
            f"Tokens for {element.name} live at most {_minutes(element.max_lifetime)}: ask for "
            "that or less.",
            error="invalid_request",
        )
    return asked


def _minutes(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def _element_usable(element: StorageElement) -> None:
    if not element.enabled:
        raise Refused(
            "storage-element-disabled",
            f"Storage element {element.name} is disabled; ask the data centre which one to use.",
            error="invalid_target",
        )


def _account_usable(account: Account) -> None:
    if not account.is_active:
        raise Refused(
            "account-inactive",
            f"Account {account.name} is {account.get_status_display()}, so it gets no storage "
            "tokens. An admin can reactivate it.",
        )


def _may(
    account: Account, operation: str, path: str, today: datetime.date, memo: dict | None = None
) -> str:
    """Why `account` may do `operation` on storage path `path`; Refused when it may not.

    `memo` keeps the access decisions and viewers of one request (several operations, several
    storage elements), so each is read from the database once."""
    memo = {} if memo is None else memo
    key = ("path", path)
    if key not in memo:
        memo[key] = path_access(path=path, account=account, today=today)
    decision = memo[key]
    campaign = decision.campaign
    if decision.reason in (AccessReason.NO_CAMPAIGN, AccessReason.SUSPENDED) or campaign is None:
        raise Refused(
            "no-campaign", decision.explanation.replace("grants no access", "issues no token")
        )
    if campaign.status == Campaign.Status.ARCHIVED:
        raise Refused(
            "campaign-archived",
            f"{path} belongs to campaign {campaign.slug}, which is archived: it grants no "
            "storage tokens. Ask its PI or the data centre if you still need the data.",
        )
    viewer = None
    if operation in WRITE_OPERATIONS or not decision.allowed:
        key = ("viewer", campaign.pk)
        if key not in memo:
            memo[key] = viewer_for(campaign=campaign, account=account, today=today)
        viewer = memo[key]
    if operation in WRITE_OPERATIONS:
        if viewer.is_pi or viewer.is_manager:
            role = "the PI" if viewer.is_pi else "a manager"
            return f"{account.name} is {role} of campaign {campaign.slug} (uploads, corrections)."
        raise Refused(
            "writers-only",
            f"Only the PI and managers of campaign {campaign.slug} may get storage.{operation} "
            f"on {path}; ask for storage.read, or ask the PI.",
        )
    if decision.allowed:
        return decision.explanation
    if viewer.is_pi or viewer.is_manager:
        role = "the PI" if viewer.is_pi else "a manager"
        return f"{account.name} is {role} of campaign {campaign.slug}, under embargo."
    raise Refused("embargo-not-member", decision.explanation)


def _others_inside(path: str, deciding: set[str], memo: dict | None = None) -> list[str]:
    """Other campaigns' data paths that a scope on `path` would also open: paths below it, and
    paths it is a string prefix of (XRootD compares scope paths as strings)."""
    memo = {} if memo is None else memo
    if ("others", path) not in memo:
        memo[("others", path)] = _paths_starting_with(path)
    found = []
    for other in memo[("others", path)]:
        other = other.rstrip("/") or "/"
        if other != path and other not in deciding and other not in found:
            found.append(other)
    return found


# Every campaign data path, sorted, per process: a bisect finds those starting with a scope path
# (scanning the JSON of thousands of campaigns per token costs milliseconds). Saving a campaign
# here clears it (tokens/receivers.py); other processes see a change within ALL_PATHS_SECONDS,
# well inside the delay with which storage reads the exported mapping files.
_ALL_PATHS: list = [(), float("-inf")]
ALL_PATHS_SECONDS = 10.0


def forget_campaign_paths() -> None:
    _ALL_PATHS[:] = [(), float("-inf")]


def _all_campaign_paths() -> tuple[str, ...]:
    paths, read_at = _ALL_PATHS
    if time.monotonic() - read_at > ALL_PATHS_SECONDS:
        paths = tuple(
            sorted(
                {
                    path
                    for data_paths in Campaign.objects.values_list("data_paths", flat=True)
                    for path in data_paths or ()
                }
            )
        )
        _ALL_PATHS[:] = [paths, time.monotonic()]
    return paths


def _paths_starting_with(path: str) -> list[str]:
    paths = _all_campaign_paths()
    found = []
    for index in range(bisect.bisect_left(paths, path), len(paths)):
        if not paths[index].startswith(path):
            break
        found.append(paths[index])
    return found


def _check_path(
    account: Account, operation: str, path: str, today: datetime.date, memo: dict
) -> str:
    """The access rule for one operation on one storage path, and for what the scope would also
    open; independent of the storage element."""
    reason = _may(account, operation, path, today, memo)
    for other in _others_inside(path, {path}, memo):
        how = "lies inside it" if path_covers(path, other) else "starts with the same letters"
        try:
            _may(account, operation, other, today, memo)
        except Refused as refusal:
            if refusal.rule == "no-campaign":  # no longer any campaign's path
                continue
            raise Refused(
                "would-open-other-campaign",
                f"storage.{operation} on {path} would also open {other} ({other} {how}), "
                "which you may not use: ask for a narrower path.",
                error="invalid_scope",
            ) from None
    return reason


def _tape_check(operation: str, path: str, element: StorageElement) -> None:
    if operation == "stage" and not element.is_tape(path):
        raise Refused(
            "not-tape",
            f"{path} is not on tape at {element.name}, so there is nothing to stage: ask for "
            "storage.read.",
            error="invalid_scope",
        )


def _check_one(
    account: Account,
    request: ScopeRequest,
    element: StorageElement,
    today: datetime.date,
    memo: dict,
) -> str:
    path = path_join(element.base_path, request.path)
    reason = _check_path(account, request.operation, path, today, memo)
    _tape_check(request.operation, path, element)
    return reason


def decide(
    *,
    account: Account,
    storage_element: StorageElement,
    scopes: list[ScopeRequest],
    lifetime: timedelta | None = None,
    today: datetime.date | None = None,
) -> Grant:
    """The grant for a person's request, or Refused naming the first rule that refused."""
    today = today or timezone.localdate()
    _element_usable(storage_element)
    _account_usable(account)
    granted_lifetime = _lifetime(storage_element, lifetime)
    if not scopes:
        parse_scopes("")  # raises the "name the scopes" refusal
    for item in scopes:
        _scope_path_writable(item)
    memo: dict = {}
    reasons = tuple(_check_one(account, item, storage_element, today, memo) for item in scopes)
    return Grant(tuple(scopes), granted_lifetime, reasons)


def client_limits(
    *, client: OAuthClient, storage_element: StorageElement, scopes: list[ScopeRequest]
) -> None:
    """A registered client stays within its storage elements and path prefixes."""
    if storage_element.name not in client.audiences:
        raise Refused(
            "client-audience",
            f"Client {client.client_id} is not registered for storage element "
            f"{storage_element.name}; ask the data centre to add it.",
            error="invalid_target",
        )
    for item in scopes:
        if not any(path_covers(prefix, item.path) for prefix in client.path_prefixes):
            raise Refused(
                "client-prefix",
                f"{item.scope} is outside the paths client {client.client_id} is registered for "
                f"({', '.join(client.path_prefixes) or 'none'}).",
                error="invalid_scope",
            )


def decide_for_client(
    *,
    client: OAuthClient,
    storage_element: StorageElement,
    scopes: list[ScopeRequest],
    lifetime: timedelta | None = None,
) -> Grant:
    """client_credentials: the client's own service account, within what it is registered for."""
    _element_usable(storage_element)
    account = client.service_account
    if account is None:
        raise Refused(
            "client-no-service-account",
            f"Client {client.client_id} has no service account, so it can only exchange a "
            "person's token.",
            error="unauthorized_client",
        )
    _account_usable(account)
    granted_lifetime = _lifetime(storage_element, lifetime)
    if not scopes:
        parse_scopes("")
    client_limits(client=client, storage_element=storage_element, scopes=scopes)
    for item in scopes:
        if item.operation not in client.operations:
            raise Refused(
                "client-operation",
                f"Client {client.client_id} may get {', '.join(client.operations) or 'no'} "
                f"operations, not storage.{item.operation}.",
                error="invalid_scope",
            )
    reason = f"client {client.client_id} is registered for these paths at {storage_element.name}"
    return Grant(tuple(scopes), granted_lifetime, tuple(reason for _ in scopes))


@dataclass(frozen=True)
class Offer:
    """What the Storage access panel offers one account for one campaign at one element."""

    storage_element: StorageElement
    paths: tuple[str, ...]  # the campaign's data paths, relative to the element's base path
    operations: tuple[str, ...]
    why_not: str = ""


def campaign_offers(
    *,
    account: Account,
    campaign: Campaign,
    storage_elements: list[StorageElement],
    today: datetime.date | None = None,
) -> list[Offer]:
    """Per storage element, the operations `account` may ask for on `campaign`'s first data path
    (what the Storage access panel offers). The access rule is evaluated once per operation, not
    once per element: only the base path and the tape flag differ between elements."""
    today = today or timezone.localdate()
    paths = [p.rstrip("/") or "/" for p in campaign.data_paths or ()]
    allowed: dict[str, bool] = {}
    why_not = ""
    memo: dict = {}
    if paths and account.is_active:
        for operation in ("read", "create", "modify"):
            try:
                _check_path(account, operation, paths[0], today, memo)
                allowed[operation] = True
            except Refused as refusal:
                allowed[operation] = False
                why_not = why_not or refusal.message
    elif not account.is_active:
        why_not = f"account {account.name} is {account.get_status_display()}."
    offers = []
    for element in storage_elements:
        relative = tuple(
            rel for path in paths if (rel := path_relative(element.base_path, path)) is not None
        )
        if not element.enabled or not relative:
            offers.append(
                Offer(element, relative, (), "its data paths are outside this element's area")
            )
            continue
        operations = [op for op in ("read", "create", "modify") if allowed.get(op)]
        if allowed.get("read") and element.is_tape(paths[0]):
            operations.insert(1, "stage")
        offers.append(Offer(element, relative, tuple(operations), "" if operations else why_not))
    return offers


@dataclass(frozen=True)
class PathConflict:
    first: str  # campaign slug
    first_path: str
    second: str
    second_path: str
    kind: str  # "equal", "nested", "string prefix"

    @property
    def sentence(self) -> str:
        return (
            f"{self.first} {self.first_path} and {self.second} {self.second_path}: {self.kind}"
            + (
                " (XRootD 5.5 would let a token for the first open the second)."
                if self.kind == "string prefix"
                else "."
            )
        )


def data_path_conflicts() -> list[PathConflict]:
    """Pairs of campaigns whose data paths are equal, nested, or string prefixes of each other."""
    paths = sorted(
        (path.rstrip("/") or "/", slug)
        for slug, data_paths in Campaign.objects.values_list("slug", "data_paths")
        for path in data_paths or ()
    )
    found = []
    for index, (path, slug) in enumerate(paths):
        for other, other_slug in paths[index + 1 :]:
            if not other.startswith(path):
                break  # sorted: nothing further starts with `path`
            if other_slug == slug:
                continue
            kind = (
                "equal"
                if other == path
                else "nested"
                if path_covers(path, other)
                else "string prefix"
            )
            found.append(PathConflict(slug, path, other_slug, other, kind))
    return found
