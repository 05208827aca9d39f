"""A real XRootD server (Debian's xrootd-server 5.5) with the SciTokens authorization plugin.

Started on free ports in a temporary directory, trusting exactly one token issuer with one base
path and one audience; it serves HTTP through XrdHttp (curl with a Bearer header) and roots://
with the `ztn` protocol (xrdcp with BEARER_TOKEN), and accepts loopback peers only. Facts this is built on (from
the XrdSciTokens 5.5.3 and scitokens-cpp 0.7.3 sources and from running them here):

- xrootd refuses to run as root, so it runs as the `xrootd` user (made by the Debian package);
  everything it reads or writes lives in a temporary directory owned by that user.
- XRootD 5.5 has no directive to bind to one address; `xrd.allow host` makes it refuse every
  connection that does not come from loopback.
- scitokens-cpp fetches `<iss>/.well-known/openid-configuration` and the JWKS over HTTPS only,
  through libcurl, which reads Debian's CA file (/etc/ssl/certs/ca-certificates.crt) and no
  environment variable. The server is therefore started inside a private mount namespace
  (`unshare --mount --propagation private`) in which a bundle of the system CAs plus the test CA
  is bind-mounted over that file; the mount vanishes with the process and the machine's trust
  store is never changed.
- scitokens-cpp caches keys in `$XDG_CACHE_HOME/scitokens/scitokens_cpp.sqllite` and refreshes
  them only after 600 s, even when a token names a `kid` it has not seen. Each server gets its
  own cache directory, so runs never share keys.
- Scope paths are relative to the base path and are matched as plain string prefixes
  (`storage.read:/c4` also opens `/c42`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.ports import free_port, stop_process, wait_for_port
from tests.harness.tls import SYSTEM_CA_BUNDLE, ThrowawayCA

XROOTD_USER = "xrootd"
SCITOKENS_PLUGIN = "libXrdAccSciTokens.so"
REQUIRED_PROGRAMS = ("xrootd", "xrdcp", "unshare", "setpriv", "mount", "curl", "openssl")


def xrootd_missing() -> str | None:
    """Why a real XRootD cannot be started here, or None when it can."""
    for program in REQUIRED_PROGRAMS:
        if shutil.which(program) is None:
            return f"{program} was not found: run scripts/install-system-deps.sh (make test does)."
    plugin_dirs = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib")]
    if not any(d.glob("libXrdAccSciTokens-5.so") for d in plugin_dirs if d.exists()):
        return "libXrdAccSciTokens-5.so was not found: install xrootd-scitokens-plugins."
    try:
        pwd.getpwnam(XROOTD_USER)
    except KeyError:
        return "The 'xrootd' system user does not exist: install xrootd-server."
    if os.geteuid() != 0:
        return "Starting XRootD in a private mount namespace needs root."
    return None


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes


def curl(
    url: str, *, method: str = "GET", token: str | None = None, data: bytes | None = None
) -> HttpResult:
    """One request with the curl program (a real HTTP client), the token as a Bearer header."""
    with tempfile.NamedTemporaryFile() as body:
        command = ["curl", "-sS", "-o", body.name, "-w", "%{http_code}", "-X", method]
        command += ["--max-time", "30"]
        if token is not None:
            command += ["-H", f"Authorization: Bearer {token}"]
        if data is not None:
            command += ["--data-binary", "@-", "-H", "Content-Type: application/octet-stream"]
        done = subprocess.run(command + [url], input=data, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"curl {method} {url} failed: {done.stderr.decode(errors='replace')}"
            )
        return HttpResult(status=int(done.stdout), body=Path(body.name).read_bytes())


@dataclass
class RunningXrootd:
    http_port: int
    root_port: int
    issuer: str
    base_path: str
    audience: str
    proc: subprocess.Popen = field(repr=False)
    tmp: Path = field(repr=False)

    @property
    def data_root(self) -> Path:
        """The directory that XRootD's `/` maps to."""
        return self.tmp / "data"

    @property
    def base_dir(self) -> Path:
        """The directory of the issuer's base path (scope paths are relative to it)."""
        return self.data_root / self.base_path.lstrip("/")

    @property
    def log_file(self) -> Path:
        return self.tmp / "xrootd.log"

    def url(self, path: str) -> str:
        """The HTTP URL of a path relative to the base path, e.g. url('/c/file')."""
        return f"http://127.0.0.1:{self.http_port}{self.base_path.rstrip('/')}{path}"

    def put_file(self, path: str, content: bytes) -> Path:
        """Place a file (path relative to the base path) directly on disk, owned by xrootd."""
        target = self.base_dir / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in [target.parent, *target.parent.parents]:
            if parent == self.data_root.parent:
                break
            shutil.chown(parent, XROOTD_USER, XROOTD_USER)
        target.write_bytes(content)
        shutil.chown(target, XROOTD_USER, XROOTD_USER)
        return target

    def get(self, path: str, token: str | None) -> HttpResult:
        return curl(self.url(path), token=token)

    def put(self, path: str, token: str | None, data: bytes) -> HttpResult:
        return curl(self.url(path), method="PUT", token=token, data=data)

    @property
    def key_cache(self) -> Path:
        return self.tmp / "cache" / "scitokens" / "scitokens_cpp.sqllite"

    def forget_issuer_keys(self) -> int:
        """Empty scitokens-cpp's key cache, as a restart with a fresh cache would; returns the
        number of issuers forgotten. For tests whose issuer gets new keys with a fresh database:
        never between the steps of a rotation test, which must see the real cache."""
        if not self.key_cache.exists():
            return 0
        with contextlib.closing(sqlite3.connect(self.key_cache)) as db, db:
            return db.execute("DELETE FROM keycache").rowcount

    def root_url(self, path: str) -> str:
        """The roots:// URL of a path relative to the base path (TLS, token sent by 'ztn')."""
        return f"roots://localhost:{self.root_port}/{self.base_path.rstrip('/')}{path}"

    def xrdcp(self, source: str, destination: str, token: str) -> subprocess.CompletedProcess:
        """Run xrdcp with the token in BEARER_TOKEN and the test CA as its only trusted CA."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "client-home"),
            "BEARER_TOKEN": token,
            "X509_CERT_DIR": str(self.tmp / "client-ca"),
        }
        return subprocess.run(
            ["xrdcp", "--nopbar", source, destination],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_size(self) -> int:
        """A mark to read the log from (see log_since)."""
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def log_since(self, mark: int) -> str:
        with open(self.log_file, "rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace")

    def token_errors_since(self, mark: int) -> list[str]:
        """What the SciTokens plugin logged about tokens it could not use since `mark`."""
        return [
            line
            for line in self.log_since(mark).splitlines()
            if "scitokens_GenerateAcls" in line or "scitokens_Validate" in line
        ]

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _xrootd_config(*, tmp: Path, http_port: int, root_port: int, trace: bool) -> str:
    lines = [
        "all.export /",
        f"oss.localroot {tmp / 'data'}",
        f"all.adminpath {tmp / 'admin'}",
        f"all.pidpath {tmp / 'run'}",
        f"xrd.port {root_port}",
        # 5.5 cannot bind to one address: refuse every peer that is not loopback.
        "xrd.allow host localhost",
        "xrd.allow host 127.0.0.1",
        f"xrd.protocol XrdHttp:{http_port} libXrdHttp.so",
        # XrdHttp hands the Authorization header to authorization plugins as the `authz` CGI.
        "http.header2cgi Authorization authz",
        "ofs.authorize 1",
        # Without `++` SciTokens is the only authorization: no valid token, no access.
        f"ofs.authlib {SCITOKENS_PLUGIN} config={tmp / 'scitokens.cfg'}",
        # roots:// with the token as the session credential (xrdcp's BEARER_TOKEN): the 'ztn'
        # security protocol, which runs over TLS only and lets the SciTokens plugin validate.
        f"xrd.tls {tmp / 'tls' / 'server.crt'} {tmp / 'tls' / 'server.key'}",
        f"xrd.tlsca certfile {tmp / 'tls' / 'ca.crt'}",
        "xrootd.seclib libXrdSec.so",
        "sec.protocol ztn",
    ]
    if trace:
        lines += ["scitokens.trace all", "http.trace all"]
    return "\n".join(lines) + "\n"


def _scitokens_config(*, issuer: str, base_path: str, audience: str) -> str:
    return (
        "[Global]\n"
        f"audience = {audience}\n"
        "onmissing = deny\n"
        "\n"
        "[Issuer gatehouse]\n"
        f"issuer = {issuer}\n"
        f"base_path = {base_path}\n"
        f"default_user = {XROOTD_USER}\n"
    )


def start_xrootd(
    *,
    issuer: str,
    base_path: str,
    audience: str,
    ca: ThrowawayCA,
    trace: bool = False,
) -> RunningXrootd:
    """Start XRootD trusting `issuer` for `base_path` with `audience`. The system CA file plus
    `ca` replaces the system CA file for this process only; `ca` also signs the server's own
    certificate for roots://."""
    reason = xrootd_missing()
    if reason:
        raise RuntimeError(reason)
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-xrootd-"))
    for sub in ("data", "admin", "run", "cache", "tls", "client-ca"):
        (tmp / sub).mkdir()
    (tmp / "data" / base_path.strip("/")).mkdir(parents=True, exist_ok=True)
    http_port, root_port = free_port(), free_port()
    while root_port == http_port:
        root_port = free_port()
    (tmp / "xrootd.cfg").write_text(
        _xrootd_config(tmp=tmp, http_port=http_port, root_port=root_port, trace=trace)
    )
    (tmp / "scitokens.cfg").write_text(
        _scitokens_config(issuer=issuer, base_path=base_path, audience=audience)
    )
    bundle = ca.write_bundle(tmp / "ca-bundle.crt")
    server_cert = ca.issue_server()
    shutil.copyfile(server_cert.cert_file, tmp / "tls" / "server.crt")
    shutil.copyfile(server_cert.key_file, tmp / "tls" / "server.key")
    shutil.copyfile(ca.cert_file, tmp / "tls" / "ca.crt")
    # xrdcp finds CAs only in a hashed directory (X509_CERT_DIR), as OpenSSL's c_rehash makes.
    shutil.copyfile(ca.cert_file, tmp / "client-ca" / f"{ca.subject_hash()}.0")
    for path in [tmp, *tmp.rglob("*")]:
        shutil.chown(path, XROOTD_USER, XROOTD_USER)
    tmp.chmod(0o750)
    bundle.chmod(0o644)
    (tmp / "tls" / "server.key").chmod(0o600)

    # Inside the new mount namespace: put the bundle over the system CA file, drop to the xrootd
    # user and become the server (exec, so the Popen pid is xrootd itself).
    inner = (
        'mount --bind "$1" "$2" && exec setpriv --reuid "$3" --regid "$3" --init-groups '
        '--reset-env env XDG_CACHE_HOME="$4" HOME="$4" xrootd -c "$5" -l "$6"'
    )
    args = [str(bundle), str(SYSTEM_CA_BUNDLE), XROOTD_USER, str(tmp / "cache")]
    args += [str(tmp / "xrootd.cfg"), str(tmp / "xrootd.log")]
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner, "sh", *args],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "startup.log", "wb"),  # noqa: SIM115 - lives as long as the server
        start_new_session=True,
    )
    server = RunningXrootd(
        http_port=http_port,
        root_port=root_port,
        issuer=issuer,
        base_path=base_path,
        audience=audience,
        proc=proc,
        tmp=tmp,
    )
    try:
        wait_for_port(http_port, proc=proc, what="XRootD")
    except Exception as exc:
        startup = (tmp / "startup.log").read_text(errors="replace")
        log = server.log()[-4000:]
        server.stop()
        raise RuntimeError(f"XRootD did not start.\n{startup}\n{log}") from exc
    return server
