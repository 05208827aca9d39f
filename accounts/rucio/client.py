"""Gatehouse's side of Rucio's REST API, over the project's pinned httpx.

Why not the ``rucio-clients`` package: it does install cleanly next to Django with our pins (a
dry run adds twelve packages: dogpile.cache, rich, jsonschema, stevedore, tabulate, ...), but it
reads its configuration from rucio.cfg and the environment when constructed, caches the auth
token in a file under ``$TMPDIR/<user>/.rucio_<account>/`` that every process of the same user
shares, retries by its own rules, and gives no hook to count requests. The reconcile needs seven
simple routes; with httpx the token lives in this object (one per process and run), retries and
backoff match the SCIM client's, requests are counted for the benchmark, and no dependency is
added.

Routes used (Rucio 41.5, lib/rucio/web/rest/flaskapi/v1/): ``GET /auth/userpass`` and
``GET /auth/x509`` (token in ``X-Rucio-Auth-Token``); ``GET /accounts/`` (NDJSON stream of ACTIVE
accounts, filtered by query string: an unknown key filters by account attribute);
``GET|POST|PUT /accounts/<name>``; ``POST /accounts/<name>/attr/<key>``;
``GET|POST|DELETE /accounts/<name>/identities``; ``GET /identities/accounts?identity_key=&type=``
(the path form ``/identities/<key>/<type>/accounts`` answers 404 when the key has a ``/``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import httpx
from django.conf import settings

log = logging.getLogger(__name__)

# The account attribute that marks a Rucio account as Gatehouse's to change.
OWNER_KEY = "gatehouse"
OWNER_VALUE = "owned"


class RucioError(Exception):
    """Rucio refused a call; the message says which and why."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RucioUnavailable(RucioError):
    """Rucio could not be reached, or kept failing, after every retry."""


class RucioNotConfigured(Exception):
    """The settings do not describe a usable Rucio connection; the sentence says what to set."""


@dataclass(frozen=True)
class RucioConfig:
    url: str
    auth_url: str
    account: str
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log or an error report
    cert: str = ""
    key: str = ""
    vo: str = ""
    ca: str = ""
    timeout: float = 60
    attempts: int = 5
    backoff: float = 1.0

    @classmethod
    def from_settings(cls, *, url: str | None = None) -> RucioConfig:
        """The configured connection; `url` overrides the server (tests put a proxy in front)."""
        base = url or settings.GATEHOUSE_RUCIO_URL
        if not base:
            raise RucioNotConfigured(
                "Rucio provisioning is off: set GATEHOUSE_RUCIO_URL (and credentials) to use it."
            )
        config = cls(
            url=base.rstrip("/"),
            auth_url=(url or settings.GATEHOUSE_RUCIO_AUTH_URL or base).rstrip("/"),
            account=settings.GATEHOUSE_RUCIO_ACCOUNT,
            username=settings.GATEHOUSE_RUCIO_USERNAME,
            password=settings.GATEHOUSE_RUCIO_PASSWORD,
            cert=settings.GATEHOUSE_RUCIO_CERT,
            key=settings.GATEHOUSE_RUCIO_KEY,
            vo=settings.GATEHOUSE_RUCIO_VO,
            ca=settings.GATEHOUSE_RUCIO_CA,
            timeout=settings.GATEHOUSE_RUCIO_TIMEOUT,
            attempts=max(1, settings.GATEHOUSE_RUCIO_ATTEMPTS),
            backoff=settings.GATEHOUSE_RUCIO_BACKOFF_MS / 1000,
        )
        if not (config.username and config.password) and not config.cert:
            raise RucioNotConfigured(
                "No Rucio credentials: set GATEHOUSE_RUCIO_USERNAME and GATEHOUSE_RUCIO_PASSWORD "
                "(userpass), or GATEHOUSE_RUCIO_CERT and GATEHOUSE_RUCIO_KEY (X.509), or their "
                "_FILE variants."
            )
        return config


class RucioClient:
    """One connection to Rucio as Gatehouse's account; use as a context manager."""

    def __init__(self, config: RucioConfig, *, transport: httpx.BaseTransport | None = None):
        self.config = config
        self.requests = 0
        self._token = ""
        cert = (config.cert, config.key or None) if config.cert else None
        self._http = httpx.Client(
            timeout=config.timeout,
            cert=cert,
            verify=config.ca or True,
            transport=transport,
            headers={"User-Agent": "gatehouse-rucio-sync"},
        )

    def __enter__(self) -> RucioClient:
        return self

    def __exit__(self, *exc) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One call, retried with exponential backoff on connection errors and 5xx answers."""
        last = ""
        for attempt in range(self.config.attempts):
            if attempt:
                time.sleep(self.config.backoff * 2 ** (attempt - 1))
            self.requests += 1
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code < 500:
                return response
            last = f"HTTP {response.status_code} {_message(response)}"
        raise RucioUnavailable(
            f"Rucio at {self.config.url} did not answer {method} {httpx.URL(url).path} after "
            f"{self.config.attempts} attempts ({last}). Check that it is up, then run again."
        )

    def _authenticate(self) -> None:
        headers = {"X-Rucio-Account": self.config.account}
        if self.config.vo:
            headers["X-Rucio-VO"] = self.config.vo
        if self.config.username and self.config.password:
            path = "/auth/userpass"
            headers["X-Rucio-Username"] = self.config.username
            headers["X-Rucio-Password"] = self.config.password
        else:
            path = "/auth/x509"
        response = self._send("GET", self.config.auth_url + path, headers=headers)
        token = response.headers.get("X-Rucio-Auth-Token", "")
        if response.status_code != 200 or not token:
            raise RucioError(
                f"Rucio refused Gatehouse's login as account {self.config.account!r} "
                f"(HTTP {response.status_code} {_message(response)}): check "
                "GATEHOUSE_RUCIO_ACCOUNT and its credentials.",
                response.status_code,
            )
        self._token = token

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        params: dict | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        if not self._token:
            self._authenticate()
        for _ in range(2):
            headers = {
                "X-Rucio-Auth-Token": self._token,
                "Accept": "application/x-json-stream" if stream else "application/json",
            }
            kwargs: dict = {"headers": headers, "params": params}
            if body is not None:
                kwargs["content"] = json.dumps(body)
                headers["Content-Type"] = "application/json"
            response = self._send(method, self.config.url + path, **kwargs)
            if response.status_code != 401 or "token" not in _message(response).lower():
                return response
            self._authenticate()  # the token expired during a long run: log in again, once
        return response

    @staticmethod
    def _refused(what: str, response: httpx.Response) -> RucioError:
        return RucioError(
            f"Rucio refused to {what} (HTTP {response.status_code} {_message(response)}).",
            response.status_code,
        )

    # -- reads ---------------------------------------------------------------------------

    def accounts(self, **filters: str) -> list[dict]:
        """ACTIVE accounts (Rucio hides the others), in one streamed answer; filters as Rucio's."""
        response = self._call("GET", "/accounts/", params=filters, stream=True)
        if response.status_code != 200:
            raise self._refused("list accounts", response)
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def account(self, name: str) -> dict | None:
        """One account in any status (ACTIVE, SUSPENDED, DELETED), or None if there is none."""
        response = self._call("GET", f"/accounts/{name}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(f"read account {name}", response)
        return response.json()

    def attributes(self, name: str) -> dict[str, str] | None:
        """An ACTIVE account's attributes; None when Rucio hides the account (suspended)."""
        response = self._call("GET", f"/accounts/{name}/attr/")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(f"read the attributes of {name}", response)
        return {item["key"]: item["value"] for item in response.json()}

    def identities(self, name: str) -> list[dict] | None:
        """[{type, identity, email}] of an ACTIVE account; None when Rucio hides it (suspended)."""
        response = self._call("GET", f"/accounts/{name}/identities", stream=True)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(f"list the identities of {name}", response)
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def accounts_for_identity(self, *, identity: str, type: str) -> list[str]:
        """Accounts an identity maps to (the query-string form: keys with '/' work)."""
        response = self._call(
            "GET", "/identities/accounts", params={"identity_key": identity, "type": type}
        )
        if response.status_code != 200:
            raise self._refused(f"look up the accounts of {type} identity {identity}", response)
        return list(response.json())

    # -- writes: each is "make it so", so a repeated run is harmless -----------------------

    def account_add(self, *, name: str, type: str, email: str) -> bool:
        """Create the account; False if an account of that name exists already (any status)."""
        response = self._call("POST", f"/accounts/{name}", body={"type": type, "email": email})
        if response.status_code == 409:
            return False
        if response.status_code != 201:
            raise self._refused(f"create account {name}", response)
        return True

    def account_update(self, *, name: str, **fields: str) -> None:
        """Set account fields; status is SUSPENDED or ACTIVE in upper case (lower case is a 500)."""
        response = self._call("PUT", f"/accounts/{name}", body=fields)
        if response.status_code != 200:
            raise self._refused(f"update account {name} ({', '.join(fields)})", response)

    def owner_mark(self, *, name: str) -> None:
        response = self._call(
            "POST", f"/accounts/{name}/attr/{OWNER_KEY}", body={"value": OWNER_VALUE}
        )
        if response.status_code not in (201, 409):
            raise self._refused(f"mark account {name} as Gatehouse's", response)

    def identity_add(self, *, name: str, type: str, identity: str, email: str) -> bool:
        """Map the identity to the account (an X.509 one needs an e-mail); False if it was."""
        body = {"identity": identity, "authtype": type, "email": email, "default": False}
        response = self._call("POST", f"/accounts/{name}/identities", body=body)
        if response.status_code == 409:
            return False
        if response.status_code != 201:
            raise self._refused(f"add {type} identity {identity} to {name}", response)
        return True

    def identity_remove(self, *, name: str, type: str, identity: str) -> bool:
        """Unmap the identity from the account; False if it was not mapped."""
        body = {"identity": identity, "authtype": type}
        response = self._call("DELETE", f"/accounts/{name}/identities", body=body)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._refused(f"remove {type} identity {identity} from {name}", response)
        return True


def _message(response: httpx.Response) -> str:
    """Rucio's error sentence (ExceptionMessage header or body), or the reason phrase."""
    message = response.headers.get("ExceptionMessage", "")
    if not message:
        try:
            message = response.json().get("ExceptionMessage", "")
        except (ValueError, AttributeError):
            message = ""
    return (message or response.reason_phrase)[:300]
