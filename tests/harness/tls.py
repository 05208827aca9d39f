"""A throwaway certificate authority for loopback TLS servers in the tests.

Storage software fetches an issuer's discovery document and JWKS over HTTPS only and checks the
server certificate against the system trust store. The tests never touch that store: they sign
a loopback server certificate with a CA made here and hand consumers a bundle file made of the
system bundle plus this CA (see tests/harness/xrootd.py for how XRootD gets to see it).
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gatehouse tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class ServerCertificate:
    cert_pem: bytes
    key_pem: bytes
    directory: Path = field(repr=False)

    @property
    def cert_file(self) -> Path:
        return self.directory / "server.crt"

    @property
    def key_file(self) -> Path:
        return self.directory / "server.key"

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


class ThrowawayCA:
    """A CA that lives for one test session: a key, a self-signed root and the servers it signs."""

    def __init__(self, *, name: str = "Gatehouse throwaway test CA") -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="gatehouse-ca-"))
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self._cert.public_bytes(serialization.Encoding.PEM)
        self.cert_file = self.directory / "ca.crt"
        self.cert_file.write_bytes(self.cert_pem)
        self.cert_file.chmod(0o644)

    def issue_server(self, hosts: tuple[str, ...] = LOOPBACK_NAMES) -> ServerCertificate:
        """A server certificate for the given host names and IP addresses, written to disk."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hosts[0]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        directory = Path(tempfile.mkdtemp(prefix="server-", dir=self.directory))
        server = ServerCertificate(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_pem_key(key),
            directory=directory,
        )
        server.cert_file.write_bytes(server.cert_pem)
        server.key_file.write_bytes(server.key_pem)
        server.key_file.chmod(0o600)
        return server

    def write_bundle(self, path: Path) -> Path:
        """The system CA bundle plus this CA, as one PEM file at `path` (readable by everyone)."""
        system = SYSTEM_CA_BUNDLE.read_bytes() if SYSTEM_CA_BUNDLE.exists() else b""
        if system and not system.endswith(b"\n"):
            system += b"\n"
        path.write_bytes(system + self.cert_pem)
        path.chmod(0o644)
        return path

    def subject_hash(self) -> str:
        """OpenSSL's subject hash of this CA, the file name a hashed CA directory uses."""
        done = subprocess.run(
            ["openssl", "x509", "-noout", "-subject_hash", "-in", str(self.cert_file)],
            capture_output=True,
            check=True,
            text=True,
        )
        return done.stdout.strip()

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.cert_file))

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
