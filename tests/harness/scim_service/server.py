"""A threaded loopback HTTP server that answers SCIM reads the way INDIGO IAM v1.12 does.

Quirks reproduced (see ../../../../shared/DESIGN.md and IAM's ScimControllerSupport):
- GET /scim/Users, /scim/Users/{id}, /scim/Groups, /scim/Groups/{id},
  /scim/Groups/{id}/members and /scim/Groups/{id}/subgroups; nothing else (no discovery: 404).
- startIndex is 1-based (missing or < 1 means 1); count defaults to 100 and is clamped to
  0..100; count=0 answers only totalResults. `filter` is ignored; `attributes` trims output.
- No stable order between requests (see ORDERS).
- application/scim+json;charset=UTF-8; 401 without a valid bearer token, 403 without scim:read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

from . import rendering
from .auth import BearerVerifier, InsufficientScope
from .directory import ScimDirectory
from .faults import Fault, FaultPlan

log = logging.getLogger(__name__)

MAX_PAGE = 100
# stable: insertion order. drift: a seeded permutation that `drift` random swaps change before
# every request (rows moving under a database that has no ORDER BY). shuffle: a fresh seeded
# permutation for every request (the worst case: one pass over the pages sees about 63%).
ORDERS = ("stable", "drift", "shuffle")

_USER = re.compile(r"^/scim/Users/([^/]+)\Z")
_GROUP = re.compile(r"^/scim/Groups/([^/]+)\Z")
_GROUP_LIST = re.compile(r"^/scim/Groups/([^/]+)/(members|subgroups)\Z")


@dataclass
class RequestRecord:
    """One request the service answered (the token itself is never kept)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    start_index: int | None = None
    count: int | None = None
    fault: str | None = None
    at: float = field(default_factory=time.time)


class _Reply(Exception):
    def __init__(self, status: int, body: dict | str, headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: ScimService):
        self.service = service
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):  # type: ignore[override]
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[override]
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, delayed ACKs add 40 ms a page.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.service._handle(self)

    def _not_allowed(self) -> None:
        self.server.service._refuse_method(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = _not_allowed

    def log_message(self, format: str, *args: object) -> None:
        log.debug("scim service: " + format, *args)


class ScimService:
    """The service; start() it (or use `with`), then read `scim_url`, `faults`, `requests`."""

    def __init__(
        self,
        directory: ScimDirectory,
        verify_bearer: BearerVerifier,
        *,
        seed: int = 0,
        order: str = "drift",
        drift: int = 1,
        port: int = 0,
        public_url: str | None = None,
        tz: timezone = rendering.DEFAULT_TZ,
    ):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
        self.directory = directory
        self.verify_bearer = verify_bearer
        self.seed = seed
        self.order = order
        self.drift = drift
        self.port = port
        self.public_url = public_url
        self.tz = tz
        self.faults = FaultPlan()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._orders: dict[str, tuple[int, list[str]]] = {}
        self._order_lock = threading.Lock()
        self._rng = random.Random(seed)
        self._request_no = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ScimService:
        self._server = _Server(("127.0.0.1", self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scim-service-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        with self._server.sockets_lock:
            for sock in list(self._server.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scim_url(self) -> str:
        return f"{self.url}/scim"

    @property
    def base_url(self) -> str:
        """What `$ref` and meta.location point at."""
        return (self.public_url or self.url).rstrip("/")

    def use(self, directory: ScimDirectory) -> None:
        """Serve another directory from now on (a module-wide service, a fresh one per test)."""
        with self._order_lock:
            self.directory = directory
            self._orders.clear()

    # request log
    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def fetched(self, path: str) -> list[RequestRecord]:
        """Answered requests for exactly this path, in order."""
        return [r for r in self.requests if r.path == path]

    def _record(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    # answering
    def _refuse_method(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        body = rendering.scim_error(405, f"Request method '{handler.command}' not supported")
        self._send(handler, 405, body, {"Allow": "GET"})
        self._record(RequestRecord(handler.command, path, {}, 405))

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record = RequestRecord("GET", path, query, 200)
        try:
            if not path.startswith("/scim/"):
                raise _Reply(404, _not_found(path))
            self._authenticate(handler)
            start_index, count = _paging(query)
            record.start_index, record.count = start_index, count
            fault = self.faults.take(path, start_index)
            if fault:
                record.fault = fault.kind
                if fault.kind == "drop":
                    record.status = 0
                    handler.close_connection = True
                    handler.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault.kind == "status":
                    raise _fault_reply(fault)
                if fault.kind == "slow":
                    time.sleep(fault.delay)
            body = self._route(path, query, start_index, count)
            if fault and fault.kind == "total":
                body["totalResults"] = body.get("totalResults", 0) + fault.total_delta
            if fault and fault.kind == "malformed":
                text = json.dumps(body)
                self._send_raw(
                    handler, 200, text[: len(text) // 2].encode(), rendering.SCIM_CONTENT_TYPE
                )
                return
            self._send(handler, 200, body)
        except _Reply as reply:
            record.status = reply.status
            self._send(handler, reply.status, reply.body, reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            record.status = 0
        finally:
            self._record(record)

    def _authenticate(self, handler: _Handler) -> None:
        header = handler.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reply(
                401,
                {
                    "error": "unauthorized",
                    "error_description": "Full authentication is required to access this resource",
                },
                {"WWW-Authenticate": 'Bearer realm="iam"'},
            )
        try:
            valid = self.verify_bearer(token.strip())
        except InsufficientScope as exc:
            raise _Reply(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "Insufficient scope for this resource",
                    "scope": str(exc),
                },
                {
                    "WWW-Authenticate": f'Bearer realm="iam", error="insufficient_scope", scope="{exc}"'
                },
            ) from None
        if not valid:
            raise _Reply(
                401,
                {"error": "invalid_token", "error_description": "Invalid access token"},
                {"WWW-Authenticate": 'Bearer realm="iam", error="invalid_token"'},
            )

    def _route(self, path: str, query: dict[str, str], start_index: int, count: int) -> dict:
        base, tz, directory = self.base_url, self.tz, self.directory
        attributes = {
            a.strip() for a in re.split(r"[.,]", query.get("attributes", "")) if a.strip()
        }

        def trimmed(resource: dict) -> dict:
            return rendering.filter_attributes(resource, attributes) if attributes else resource

        if path == "/scim/Users":
            total, ids = self._page("users", directory.user_ids, start_index, count)
            users = [(directory.user(i), i) for i in ids]
            resources = [
                trimmed(rendering.user_resource(u, directory.groups_of(i), base, tz))
                for u, i in users
                if u is not None
            ]
            return rendering.list_response(total, start_index, resources)
        if path == "/scim/Groups":
            total, ids = self._page("groups", directory.group_ids, start_index, count)
            resources = [trimmed(self._group(g)) for g in ids if directory.group(g)]
            return rendering.list_response(total, start_index, resources)
        if match := _USER.match(path):
            user = directory.user(match[1])
            if user is None:
                raise _Reply(404, rendering.scim_error(404, f"No user mapped to id '{match[1]}'"))
            return rendering.user_resource(user, directory.groups_of(user.id), base, tz)
        if match := _GROUP.match(path):
            if directory.group(match[1]) is None:
                raise _Reply(404, rendering.scim_error(404, f"No group mapped to id '{match[1]}'"))
            return self._group(match[1])
        if match := _GROUP_LIST.match(path):
            group_id, what = match[1], match[2]
            if directory.group(group_id) is None:
                raise _Reply(404, rendering.scim_error(404, f"No group mapped to id '{group_id}'"))
            if what == "members":
                total, ids = self._page(
                    f"members:{group_id}",
                    lambda: directory.member_ids(group_id),
                    start_index,
                    count,
                )
                refs = [rendering.member_ref(u, base) for u in map(directory.user, ids) if u]
            else:
                total, ids = self._page(
                    f"subgroups:{group_id}",
                    lambda: directory.subgroup_ids(group_id),
                    start_index,
                    count,
                )
                refs = [rendering.subgroup_ref(g, base) for g in map(directory.group, ids) if g]
            return rendering.list_response(total, start_index, refs)
        raise _Reply(404, _not_found(path))

    def _group(self, group_id: str) -> dict:
        group = self.directory.group(group_id)
        assert group is not None
        parent = self.directory.group(group.parent_id) if group.parent_id else None
        return rendering.group_resource(group, parent, self.base_url, self.tz)

    def _page(self, key: str, all_ids, start_index: int, count: int) -> tuple[int, list[str]]:
        """(totalResults, the ids on this page) in this request's order."""
        with self._order_lock:
            self._request_no += 1
            version = self.directory.version
            cached = self._orders.get(key)
            if cached is None or cached[0] != version:
                current = all_ids()
                if cached is None:
                    order = list(current)
                    if self.order != "stable":
                        self._rng.shuffle(order)
                elif self.order == "stable":
                    order = list(current)
                else:
                    # Survivors keep their place; newcomers go to the end, as rows in a heap.
                    present = set(current)
                    known = set(cached[1])
                    order = [i for i in cached[1] if i in present]
                    order += [i for i in current if i not in known]
                self._orders[key] = (version, order)
            else:
                order = cached[1]
            if self.order == "drift" and len(order) > 1:
                for _ in range(self.drift):
                    a, b = self._rng.randrange(len(order)), self._rng.randrange(len(order))
                    order[a], order[b] = order[b], order[a]
            elif self.order == "shuffle":
                order = list(order)
                random.Random(f"{self.seed}:{self._request_no}").shuffle(order)
            if count == 0:
                return len(order), []
            return len(order), order[start_index - 1 : start_index - 1 + count]

    def _send(
        self,
        handler: _Handler,
        status: int,
        body: dict | str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(body, str):
            content_type = "text/html;charset=utf-8" if body.startswith("<") else "text/plain"
            payload = body.encode()
        else:
            scim = "schemas" in body or "Resources" in body or "userName" in body
            content_type = rendering.SCIM_CONTENT_TYPE if scim else "application/json;charset=UTF-8"
            payload = json.dumps(body, ensure_ascii=False).encode()
        self._send_raw(handler, status, payload, content_type, headers)

    @staticmethod
    def _send_raw(
        handler: _Handler,
        status: int,
        payload: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)


def _paging(query: dict[str, str]) -> tuple[int, int]:
    """IAM's buildPageRequest: startIndex < 1 -> 1; count missing -> 100, < 0 -> 0, > 100 -> 100."""
    try:
        start = int(query["startIndex"]) if query.get("startIndex") else 1
        count = int(query["count"]) if query.get("count") else MAX_PAGE
    except ValueError:
        raise _Reply(
            400, rendering.scim_error(400, "startIndex and count must be integers")
        ) from None
    return max(start, 1), min(max(count, 0), MAX_PAGE)


def _not_found(path: str) -> dict:
    """Spring Boot's default error body, which IAM answers for paths it does not serve."""
    return {
        "timestamp": int(time.time() * 1000),
        "status": 404,
        "error": "Not Found",
        "message": "No message available",
        "path": path,
    }


def _fault_reply(fault: Fault) -> _Reply:
    if fault.status == 429:
        headers = {"Retry-After": str(fault.retry_after or 1)}
        return _Reply(429, "Too Many Requests", headers)
    if fault.status >= 502:
        return _Reply(
            fault.status, f"<html><body><h1>{fault.status} Bad Gateway</h1></body></html>"
        )
    return _Reply(
        fault.status, rendering.scim_error(fault.status, "Internal server error (injected)")
    )
