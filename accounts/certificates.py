"""The client certificate a trusted reverse proxy vouches for.

The proxy terminates TLS, verifies the browser's grid certificate and passes on its subject DN
and the verification result in two headers (GATEHOUSE_CERT_DN_HEADER, GATEHOUSE_CERT_VERIFY_HEADER,
e.g. nginx's $ssl_client_s_dn and $ssl_client_verify). Anyone can send such headers, so they count
only when the request comes straight from an address in GATEHOUSE_CERT_PROXIES and the proxy says
the verification was "SUCCESS". The proxy must always set both headers, overwriting what a client
sent.
"""

import logging
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.http import HttpRequest

from accounts.dn import DN, DNError, parse_dn
from accounts.http import address_in, parse_address

log = logging.getLogger(__name__)


class CertificateProblem(StrEnum):
    NONE = ""
    UNTRUSTED = "untrusted"  # the request did not come through the certificate proxy
    NO_CERTIFICATE = "no-certificate"  # the browser sent none
    NOT_VERIFIED = "not-verified"  # the proxy could not verify it
    UNREADABLE = "unreadable"  # the DN header is not a DN


@dataclass(frozen=True)
class ClientCertificate:
    dn: DN | None
    problem: CertificateProblem = CertificateProblem.NONE
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.dn is not None


def is_trusted_proxy(remote_addr: str) -> bool:
    """Is this peer address one of GATEHOUSE_CERT_PROXIES (addresses or networks)?"""
    address = parse_address(remote_addr)
    return address is not None and address_in(address, "GATEHOUSE_CERT_PROXIES")


def _header_text(value: str) -> str:
    """Header values reach Django decoded as Latin-1; a proxy sending UTF-8 means UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def client_certificate(request: HttpRequest) -> ClientCertificate:
    """The verified client certificate's DN, or why there is none."""
    if not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
        return ClientCertificate(None, CertificateProblem.UNTRUSTED)
    verify = request.headers.get(settings.GATEHOUSE_CERT_VERIFY_HEADER, "").strip()
    subject = _header_text(request.headers.get(settings.GATEHOUSE_CERT_DN_HEADER, "")).strip()
    if verify in ("", "NONE") or (verify == "SUCCESS" and not subject):
        return ClientCertificate(None, CertificateProblem.NO_CERTIFICATE)
    if verify != "SUCCESS":
        # nginx: "FAILED:certificate has expired"; Apache: "FAILED:..." or "GENEROUS"
        reason = verify.partition(":")[2].strip() if verify.startswith("FAILED") else verify
        return ClientCertificate(None, CertificateProblem.NOT_VERIFIED, reason[:200])
    try:
        return ClientCertificate(parse_dn(subject))
    except DNError as exc:
        log.warning("certificate proxy sent a DN that cannot be read: %s", exc)
        return ClientCertificate(None, CertificateProblem.UNREADABLE, str(exc))
