"""RFC 2253 -> OpenSSL slash form, until the project's DN module (accounts/dn.py) is merged.

accounts.scim.staging imports `accounts.dn.dn_to_slash` and falls back to this. Delete this
file once accounts/dn.py is on main.
"""

import re

from cryptography import x509

_EMAIL_OID = "1.2.840.113549.1.9.1"
_SHORT = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    _EMAIL_OID: "emailAddress",
}


def dn_to_slash(dn: str) -> str:
    """`CN=Doe\\, Jane,O=Example,C=DE` -> `/C=DE/O=Example/CN=Doe, Jane` (ValueError if bad)."""
    text = re.sub(r"(^|(?<=[,+]))\s*(?:emailAddress|E)=", f"{_EMAIL_OID}=", dn.strip())
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise ValueError(f"{dn!r} is not an RFC 2253 distinguished name") from exc
    if not name.rdns:
        raise ValueError("an empty distinguished name")
    parts = []
    for rdn in name.rdns:  # cryptography lists the least specific RDN first, as slash form does
        values = []
        for attribute in rdn:
            key = _SHORT.get(attribute.oid.dotted_string, attribute.oid.dotted_string)
            values.append(f"{key}={attribute.value}")
        parts.append("+".join(values))
    return "/" + "/".join(parts)
