"""The identity strings an Identity stores: Rucio's OIDC form and the canonical DN.

OIDC: exactly ``SUB=<sub>, ISS=<issuer>`` (Rucio's format, so identities compare with Rucio's).
X509: the DN in canonical OpenSSL slash form (see accounts.dn), whichever form it arrived in.
"""

import re
import unicodedata
from urllib.parse import urlsplit

from accounts.dn import dn_to_slash

OIDC_RE = re.compile(r"SUB=(?P<sub>.*), ISS=(?P<issuer>.*)", re.DOTALL)
OIDC_EXAMPLE = "SUB=5f2c8d1e-0000-4000-8000-000000000001, ISS=https://iam.example.org/"


def oidc_identity(*, sub: str, issuer: str) -> str:
    """Rucio's identity string for an OIDC subject at an issuer; refuses values it cannot hold."""
    text = f"SUB={sub}, ISS={issuer}"
    parse_oidc_identity(text)
    return text


def parse_oidc_identity(text: str) -> tuple[str, str]:
    """(sub, issuer) from ``SUB=<sub>, ISS=<issuer>``; ValueError saying what is wrong."""
    _require_plain_characters(text)
    match = OIDC_RE.fullmatch(text)
    if not match:
        raise ValueError(
            f"{text!r} is not an OIDC identity: write it as Rucio does, "
            f"'SUB=<subject>, ISS=<issuer URL>', e.g. '{OIDC_EXAMPLE}'."
        )
    sub, issuer = match["sub"], match["issuer"]
    if not sub or sub != sub.strip() or any(ch.isspace() and ch != " " for ch in sub):
        raise ValueError(
            f"The subject in {text!r} is empty or has surrounding whitespace; "
            "copy the 'sub' claim exactly."
        )
    if ", ISS=" in sub:
        raise ValueError(f"{text!r} names ISS= twice; give one subject and one issuer.")
    parts = urlsplit(issuer)
    if (
        parts.scheme not in ("https", "http")
        or not parts.netloc
        or any(c.isspace() for c in issuer)
    ):
        raise ValueError(
            f"The issuer {issuer!r} is not an http(s) URL; copy the 'iss' claim exactly, "
            "e.g. https://iam.example.org/."
        )
    return sub, issuer


def _require_plain_characters(identity: str) -> None:
    """No control character (NUL included), line break or lone surrogate inside the string."""
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in identity.strip()):
        raise ValueError(
            f"{identity!r} contains a control character, a line break or a broken character: "
            "copy the identity again from its source."
        )


def normalise_identity(*, type: str, identity: str) -> str:
    """The string to store for an identity of this type; ValueError if it is malformed."""
    _require_plain_characters(identity)
    if type == "OIDC":
        text = identity.strip()
        parse_oidc_identity(text)
        return text
    if type == "X509":
        return dn_to_slash(identity)
    if type == "SSH":
        raise ValueError("SSH key identities cannot be added yet; add an OIDC or X509 identity.")
    raise ValueError(f"{type!r} is not an identity type: use OIDC or X509.")
