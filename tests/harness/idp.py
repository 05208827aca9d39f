"""A real OpenID provider for tests: devidp/server.mjs (node-oidc-provider) on a free loopback port.

    with start_idp(workdir=tmp_path, clients=[...], users=[...], display_name="Dev IAM") as idp:
        requests.get(idp.discovery_url)

Every access token it issues is a JWT (WLCG profile, `typ: at+jwt`, signed RS256 with a key in
`idp.jwks_path`); user tokens have `aud == idp.token_audience`, client_credentials tokens with
scope `scim:read` have `aud == idp.scim_audience`. See devidp/README.md.
"""

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Self
from urllib.parse import urljoin, urlsplit

import requests

from tests.harness.ports import free_port, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
DEVIDP_DIR = REPO_ROOT / "devidp"
READY_LINE = "devidp ready "


@dataclass
class RunningIdP:
    issuer: str
    port: int
    jwks_path: Path  # the private JWKS file the provider signs with
    config_path: Path
    log_path: Path
    token_audience: str
    scim_audience: str
    proc: subprocess.Popen = field(repr=False)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def discovery(self) -> dict:
        response = requests.get(self.discovery_url, timeout=10)
        response.raise_for_status()
        return response.json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def login(
        self,
        authorize_url: str,
        *,
        username: str,
        password: str,
        session: requests.Session | None = None,
    ) -> str:
        """Sign in at the provider's login page; return the redirect back to the client.

        Follows redirects while they stay on the provider, so the returned URL is the client's
        redirect URI with `code`/`state` (or `error`). The client's server need not be running.
        """
        session = session or requests.Session()
        origin = _origin(self.issuer)
        response = session.get(authorize_url, allow_redirects=False, timeout=10)
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if _origin(location) != origin:
                return location
            response = session.get(location, allow_redirects=False, timeout=10)
        form = LoginForm.parse(response.text)
        if form.action is None:
            shown = form.error.strip() or response.text[:500]
            raise RuntimeError(f"no login form at {response.url} ({response.status_code}): {shown}")
        response = session.post(
            urljoin(response.url, form.action),
            data={"login": username, "password": password},
            allow_redirects=False,
            timeout=10,
        )
        while response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if _origin(location) != origin:
                return location
            response = session.get(location, allow_redirects=False, timeout=10)
        raise RuntimeError(
            f"sign-in as {username!r} did not return to the client: {response.text[:500]}"
        )

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_idp(
    *,
    workdir: Path,
    clients: list[dict],
    users: list[dict],
    display_name: str = "Dev IAM",
    issuer_path: str = "/",
    keys_file: Path | None = None,
    timeout: float = 20.0,
    **options,
) -> RunningIdP:
    """Write a config into `workdir` and start the provider; returns once it listens.

    `issuer_path` "/" gives `http://127.0.0.1:PORT/` (IAM style); "" or "/realms/x" give issuers
    without the trailing slash. `options` are further config keys: rotate_refresh_token,
    access_token_ttl, refresh_token_ttl, id_token_ttl, token_audience, scim_audience,
    client_auth_methods (e.g. ["client_secret_post"]: a provider whose token endpoint accepts
    only post, and says so in discovery).
    """
    if not (DEVIDP_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            "devidp/node_modules is missing: run `npm ci --prefix devidp` (make does this)."
        )
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node was not found on PATH: install Node.js 20 or later.")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if issuer_path and not issuer_path.startswith("/"):
        issuer_path = "/" + issuer_path
    issuer = f"http://127.0.0.1:{port}{issuer_path}"
    jwks_path = Path(keys_file) if keys_file else workdir / "jwks.json"
    config = {
        "issuer": issuer,
        "port": port,
        "host": "127.0.0.1",
        "display_name": display_name,
        "keys_file": str(jwks_path.resolve()),
        "clients": clients,
        "users": users,
        **options,
    }
    config_path = workdir / "devidp.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = workdir / "devidp.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [node, str(DEVIDP_DIR / "server.mjs"), str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    idp = RunningIdP(
        issuer=issuer,
        port=port,
        jwks_path=jwks_path,
        config_path=config_path,
        log_path=log_path,
        token_audience=options.get("token_audience", "https://wlcg.cern.ch/jwt/v1/any"),
        scim_audience=options.get("scim_audience", issuer.rstrip("/") + "/scim"),
        proc=proc,
    )
    try:
        _wait_until_ready(idp, timeout)
    except Exception:
        idp.stop()
        raise
    return idp


def _wait_until_ready(idp: RunningIdP, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY_LINE + idp.issuer in idp.log():
            return
        if idp.proc.poll() is not None:
            raise RuntimeError(
                f"the dev IdP exited with code {idp.proc.returncode} before it was ready; "
                f"its output:\n{idp.log()}"
            )
        time.sleep(0.05)
    raise TimeoutError(
        f"the dev IdP did not print {READY_LINE!r} within {timeout:.0f} s; its output:\n{idp.log()}"
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class LoginForm(HTMLParser):
    """The action and error sentence of the provider's login page."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.error = ""
        self._in_error = False

    @classmethod
    def parse(cls, html: str) -> Self:
        form = cls()
        form.feed(html)
        return form

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attributes.get("action") or ""
        self._in_error = attributes.get("role") == "alert"

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error += data
