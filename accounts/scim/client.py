"""Reading users and groups from an INDIGO IAM SCIM API (v1.12 behaviour), completely or not at all.

IAM pages by 1-based startIndex, at most 100 per page, without a stable order between
requests, so one pass over the pages can show a user twice and miss another. The reader
dedupes by id and keeps reading until it has seen exactly `totalResults` users: it first
asks for the missing users it already knows by id, and reads all pages again only if that
is not enough. Every page must agree on `totalResults`; a page that does not, or that is
not JSON, ends the run with ScimReadError. Timeouts, connection errors, 429 and 5xx are
retried with backoff (honouring Retry-After) before that.

Requests go through scim2-client (its httpx engine is `_HttpxScimClient` below: scim2-client
0.13 ships engines for httpx2 only) and payloads are parsed with scim2-models.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError
from scim2_client import (
    BaseSyncSCIMClient,
    RequestNetworkException,
    SCIMClientException,
    UnexpectedContentFormatException,
)
from scim2_models import Error, ResourceType, SCIMException, ScimProvider, SearchRequest

from accounts.oauth import TokenEndpointUnreachable, TokenEndpointUnsupported, token_request
from accounts.scim.models import TOLERANT, IamGroup, IamUser, IndigoGroup, IndigoUser

log = logging.getLogger(__name__)

PAGE_SIZE = 100
RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class ScimReadError(Exception):
    """The provider's SCIM data could not be read completely; the sentence says what to do."""


@dataclass
class ReadStats:
    requests: int = 0
    retries: int = 0
    passes: int = 0
    pages: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "passes": self.passes,
            "pages": self.pages,
        }


class ClientCredentials:
    """A `scim:read` access token by the client_credentials grant, reused until it expires.

    Tokens are kept in this process only (never logged or stored), keyed by endpoint and
    client, so consecutive runs in one worker share one token.
    """

    _cache: dict[tuple[str, str, str], tuple[str, float]] = {}
    _cache_lock = threading.Lock()
    EXPIRY_MARGIN = 30.0

    def __init__(
        self,
        *,
        token_endpoint: str,
        client_id: str,
        client_secret: str,
        scope: str = "scim:read",
        timeout: float = 30.0,
        auth_methods: list[str] | None = None,
    ):
        """`auth_methods`: the discovery document's token_endpoint_auth_methods_supported."""
        self.token_endpoint = token_endpoint
        self.auth_methods = auth_methods
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.timeout = timeout
        self.fetched = 0

    def token(self, *, renew: bool = False) -> str:
        key = (self.token_endpoint, self.client_id, self.scope)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached and not renew and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._request()
            self._cache[key] = (token, time.monotonic() + max(lifetime - self.EXPIRY_MARGIN, 1))
            return token

    @classmethod
    def forget_all(cls) -> None:
        with cls._cache_lock:
            cls._cache.clear()

    def _request(self) -> tuple[str, float]:
        try:
            answer = token_request(
                endpoint=self.token_endpoint,
                client_id=self.client_id,
                client_secret=self.client_secret,
                grant={"grant_type": "client_credentials", "scope": self.scope},
                auth_methods=self.auth_methods,
                timeout=self.timeout,
            )
        except TokenEndpointUnreachable as exc:
            raise ScimReadError(f"{exc} The next run will try again.") from exc
        except TokenEndpointUnsupported as exc:
            raise ScimReadError(str(exc)) from exc
        access = answer.body.get("access_token")
        if not answer.ok or not isinstance(access, str) or not access:
            raise ScimReadError(
                f"The token endpoint {self.token_endpoint} refused a {self.scope} token for "
                f"client {self.client_id!r} (HTTP {answer.status}): check the SCIM "
                "client_id and client_secret in idpsecrets.json and that the client may use "
                "the client_credentials grant with that scope."
            )
        self.fetched += 1
        try:
            lifetime = float(answer.body.get("expires_in") or 300)
        except (TypeError, ValueError):
            lifetime = 300.0
        return access, lifetime


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return min(seconds, self.max_retry_after)
        base = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security


def _retry_after_seconds(value: str) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class _HttpxScimClient(BaseSyncSCIMClient):
    """scim2-client on an httpx.Client, with bearer auth and retries in the transport step."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        credentials: ClientCredentials,
        retry: RetryPolicy,
        stats: ReadStats,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ):
        super().__init__(**options)
        self.http = http
        self.credentials = credentials
        self.retry = retry
        self.stats = stats
        self.sleep = sleep

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.http.base_url
        try:
            url = self.http.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        same_origin = (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
        return same_origin and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            self.stats.add(requests=1)
            headers = {"Authorization": f"Bearer {self.credentials.token()}"}
            try:
                response = self.http.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retry.attempts:
                    network = RequestNetworkException()
                    network.add_note(f"{type(exc).__name__} after {attempt} attempts")
                    raise network from exc
                log.info("SCIM %s %s: %s, retrying", method, url, type(exc).__name__)
                self._pause(attempt)
                continue
            if response.status_code == 401 and not renewed:
                # An expired or revoked token: get a new one once, not counted as a retry.
                renewed = True
                attempt -= 1
                self.credentials.token(renew=True)
                continue
            if response.status_code in RETRYABLE_STATUS and attempt < self.retry.attempts:
                log.info("SCIM %s %s: HTTP %s, retrying", method, url, response.status_code)
                self._pause(attempt, response.headers.get("Retry-After"))
                continue
            return response

    def _pause(self, attempt: int, retry_after: str | None = None) -> None:
        self.stats.add(retries=1)
        self.sleep(self.retry.delay(attempt, retry_after))


@dataclass
class UserRecord:
    """One user as read: the parsed resource, or the reason it could not be parsed."""

    id: str
    user: IamUser | None
    problem: str = ""


def parse_user(raw: dict) -> UserRecord:
    try:
        user = IamUser.model_validate(what_the_sync_reads(raw), scim_policy=TOLERANT)
        return UserRecord(raw["id"], user)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return UserRecord(raw["id"], None, f"{where}: {first.get('msg', 'invalid')}")


class IamScimReader:
    """Reads /Users, /Groups and /Groups/{id}/members from one provider's SCIM base URL."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: ClientCredentials,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_passes: int = 4,
        workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.max_passes = max_passes
        self.workers = max(1, workers)
        self.stats = ReadStats()
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"Accept": "application/scim+json, application/json"},
            limits=httpx.Limits(max_connections=self.workers + 1),
        )
        provider = ScimProvider(
            models=[_bare(IamUser), IndigoUser, _bare(IamGroup), IndigoGroup],
            resource_types=[
                ResourceType.from_resource(IamUser),
                ResourceType.from_resource(IamGroup),
            ],
        )
        self.scim = _HttpxScimClient(
            self.http,
            credentials=credentials,
            retry=retry or RetryPolicy(),
            stats=self.stats,
            sleep=sleep,
            provider=provider,
            check_response_payload=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> IamScimReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # what the sync asks for
    def users(
        self,
        *,
        known_ids: Iterable[str] = (),
        progress: Callable[[int, int], None] | None = None,
        parse: Callable[[dict], Any] | None = None,
    ) -> Iterator[Any]:
        """Every user once, as `parse(raw)` (default: parse_user). Raises ScimReadError
        (after yielding) if the set is incomplete."""
        yield from self._read_all(
            "/Users", "users", parse or parse_user, known_ids=set(known_ids), progress=progress
        )

    def groups(self) -> list[IamGroup]:
        def parse(raw: dict) -> IamGroup:
            try:
                return IamGroup.model_validate(raw, scim_policy=TOLERANT)
            except ValidationError as exc:
                raise ScimReadError(
                    f"IAM sent group {raw.get('id')} in a form Gatehouse cannot read ({exc}); "
                    "nothing was changed."
                ) from exc

        return list(self._read_all("/Groups", "groups", parse))

    def member_ids(self, group_id: str) -> set[str]:
        return set(
            self._read_all(
                f"/Groups/{group_id}/members",
                f"members of group {group_id}",
                lambda raw: raw["value"],
                id_key="value",
            )
        )

    # paging
    def _read_all(
        self,
        path: str,
        what: str,
        parse: Callable[[dict], Any],
        *,
        known_ids: set[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
        id_key: str = "id",
    ) -> Iterator[Any]:
        seen: set[str] = set()
        total: int | None = None
        for _ in range(self.max_passes):
            self.stats.add(passes=1)
            for page in self._pass(path, what, total):
                if total is None:
                    total = page.total
                elif page.total != total:
                    raise ScimReadError(
                        f"IAM changed its answer while the {what} were read: the page at "
                        f"startIndex {page.start_index} counts {page.total}, earlier pages "
                        f"counted {total}. Nothing was changed; the next run reads again."
                    )
                for raw in page.resources:
                    item_id = raw.get(id_key) if isinstance(raw, dict) else None
                    if not isinstance(item_id, str):
                        raise ScimReadError(
                            f"IAM sent an entry without {id_key!r} in the {what} at startIndex "
                            f"{page.start_index}. Nothing was changed."
                        )
                    if item_id not in seen:
                        seen.add(item_id)
                        yield parse(raw)
                if progress:
                    progress(len(seen), total)
            assert total is not None
            if len(seen) > total:
                raise ScimReadError(
                    f"IAM listed {len(seen)} different {what} but counts only {total}: it "
                    "changed while it was read. Nothing was changed; the next run reads again."
                )
            if len(seen) < total and known_ids:
                yield from self._fill_by_id(path, what, parse, known_ids - seen, seen, total)
                if progress:
                    progress(len(seen), total)
            if len(seen) == total:
                return
        raise ScimReadError(
            f"IAM counts {total} {what}, but {self.max_passes} passes over its pages showed "
            f"only {len(seen)} (its order changes between requests). Nothing was changed; the "
            "next run reads again, or raise GATEHOUSE_SCIM_MAX_PASSES."
        )

    def _fill_by_id(
        self,
        path: str,
        what: str,
        parse: Callable[[dict], Any],
        candidates: set[str],
        seen: set[str],
        total: int,
    ) -> Iterator[Any]:
        """Ask for known but unseen ids one by one, when that is cheaper than another pass."""
        shortfall = total - len(seen)
        if len(candidates) > max(100, 5 * shortfall):
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="scim-id") as pool:
            answers = pool.map(lambda i: (i, self._get(f"{path}/{i}", None, what)), candidates)
            for item_id, payload in answers:
                if payload is not None and item_id not in seen:  # None: gone from IAM
                    seen.add(item_id)
                    yield parse(payload)

    def _pass(self, path: str, what: str, total: int | None) -> Iterator[_Page]:
        first = self._page(path, 1, what)
        yield first
        step = PAGE_SIZE
        if first.total > len(first.resources) and len(first.resources) < PAGE_SIZE:
            step = max(len(first.resources), 1)  # the server clamps lower than IAM does
        starts = list(range(1 + step, first.total + 1, step))
        if not starts:
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="scim-page") as pool:
            window = self.workers * 2
            pending: list[Future[_Page]] = [
                pool.submit(self._page, path, s, what) for s in starts[:window]
            ]
            queued = iter(starts[window:])
            try:
                while pending:
                    page = pending.pop(0).result()
                    nxt = next(queued, None)
                    if nxt is not None:
                        pending.append(pool.submit(self._page, path, nxt, what))
                    yield page
            finally:
                for future in pending:
                    future.cancel()

    def _page(self, path: str, start_index: int, what: str) -> _Page:
        payload = self._get(path, {"startIndex": start_index, "count": PAGE_SIZE}, what)
        if payload is None:
            raise ScimReadError(f"IAM has no {path}: check the SCIM base URL {self.base_url}.")
        total = payload.get("totalResults")
        resources = payload.get("Resources", [])  # IAM leaves the key out of an empty page
        if not isinstance(total, int) or not isinstance(resources, list):
            raise ScimReadError(
                f"IAM's page of {what} at startIndex {start_index} is not a SCIM ListResponse "
                "(no totalResults or Resources). Nothing was changed."
            )
        self.stats.add(pages=1)
        return _Page(start_index, total, resources)

    def _get(self, path: str, params: dict | None, what: str) -> dict | None:
        """One GET through scim2-client; None for 404; ScimReadError for anything else wrong."""
        query = (
            SearchRequest(start_index=params["startIndex"], count=params["count"])
            if params
            else None
        )
        try:
            payload = self.scim.query(
                IamGroup if path.startswith("/Groups") else IamUser,
                query_parameters=query,
                url=path,
                expected_status_codes=None,
            )
        except UnexpectedContentFormatException as exc:
            raise ScimReadError(
                f"IAM answered {path} ({what}, {_where(params)}) with something that is not "
                "JSON. Nothing was changed; if this repeats, look at IAM's logs."
            ) from exc
        except RequestNetworkException as exc:
            raise ScimReadError(
                f"IAM did not answer {path} ({what}, {_where(params)}) after "
                f"{self.scim.retry.attempts} attempts ({'; '.join(exc.__notes__ or [])}). "
                "Nothing was changed; the next run tries again."
            ) from exc
        except (SCIMClientException, SCIMException) as exc:
            status = _status_of(exc)
            if status == 404:
                return None
            raise ScimReadError(_refusal(status, path, what, params, self.base_url)) from exc
        if not isinstance(payload, dict):
            raise ScimReadError(
                f"IAM's answer to {path} is not a JSON object. Nothing was changed."
            )
        if payload.get("schemas") == [Error.__schema__]:  # unchecked payloads keep SCIM errors
            status = _int_or_none(payload.get("status"))
            if status == 404:
                return None
            raise ScimReadError(_refusal(status, path, what, params, self.base_url))
        return payload


_USER_KEYS = ("id", "schemas", "userName", "name", "displayName", "active", "emails")
_INDIGO = str(IndigoUser.__schema__)


def what_the_sync_reads(raw: dict) -> dict:
    """The attributes the sync uses, so validation (most of a sync's CPU) skips the rest:
    meta, photos, ssh keys, SAML ids, PEM certificates and their dates."""
    user = {key: raw[key] for key in _USER_KEYS if key in raw}
    if isinstance(raw.get("groups"), list):
        user["groups"] = [{"value": g.get("value")} for g in raw["groups"] if isinstance(g, dict)]
    indigo = raw.get(_INDIGO)
    if isinstance(indigo, dict):
        kept = {k: indigo[k] for k in ("oidcIds", "endTime", "serviceAccount") if k in indigo}
        if isinstance(indigo.get("certificates"), list):
            kept["certificates"] = [
                {"subjectDn": c.get("subjectDn"), "primary": c.get("primary")}
                for c in indigo["certificates"]
                if isinstance(c, dict)
            ]
        user[_INDIGO] = kept
    return user


@dataclass
class _Page:
    start_index: int
    total: int
    resources: list


def _bare(model: type) -> type:
    """The resource model without its extension parameter, as ScimProvider wants it."""
    return model.__mro__[1]


def _where(params: dict | None) -> str:
    return f"startIndex {params['startIndex']}" if params else "by id"


def _status_of(exc: Exception) -> int | None:
    source = getattr(exc, "source", None)
    status = getattr(source, "status_code", None)
    return _int_or_none(status if status is not None else getattr(exc, "status", None))


def _int_or_none(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _refusal(status: int | None, path: str, what: str, params: dict | None, base: str) -> str:
    where = f"{path} ({what}, {_where(params)})"
    if status == 401:
        return (
            f"IAM refused the SCIM client's token at {where}: check the SCIM client_id and "
            "client_secret in idpsecrets.json."
        )
    if status == 403:
        return (
            f"IAM refused {where} with 403: the SCIM client needs the scim:read scope; ask the "
            "IAM administrators to grant it."
        )
    if status in RETRYABLE_STATUS:
        return (
            f"IAM kept failing {where} with HTTP {status} after all retries. Nothing was "
            "changed; the next run tries again."
        )
    return (
        f"IAM answered {where} with HTTP {status or 'an unexpected reply'}. Nothing was changed; "
        f"check the SCIM base URL {base} and IAM's logs."
    )
