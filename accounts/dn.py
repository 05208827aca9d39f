"""X.509 distinguished names, read from and written to RFC 2253 and OpenSSL slash form.

Two textual forms meet in a data centre:

* RFC 2253 / RFC 4514, most-specific first: ``CN=Jane Doe,O=GermanGrid,C=DE``. Proxies (nginx
  ``$ssl_client_s_dn``, Apache ``SSL_CLIENT_S_DN``) and IAM's SCIM ``subjectDn`` use it.
* OpenSSL slash form, least-specific first: ``/C=DE/O=GermanGrid/CN=Jane Doe``. Rucio identities
  and dCache's gPlazma multimap use it; it is the canonical form stored in ``Identity``.

The canonical slash form is what OpenSSL prints for every DN a grid CA issues (``/`` and ``+``
inside a value stay bare, as in ``CN=host/se.example.org``); a ``/`` or ``+`` is escaped with a
backslash only where it would otherwise start a new attribute (``\\/CN=``), and ``\\`` itself is
always escaped, so every DN reads back exactly.

Our own small scanner parses both forms rather than ``x509.Name.from_rfc4514_string``, which
cannot say what is wrong, reads ``#``-hex values as UTF-8 instead of BER, is case-sensitive about
attribute names, and refuses CNs over 64 bytes that real certificates carry. ``DN.to_x509_name``
and ``DN.from_x509_name`` bridge to ``cryptography``; the tests check both forms against it.
"""

import re
import unicodedata
from dataclasses import dataclass

from cryptography import x509

__all__ = ["DN", "DNError", "Attribute", "parse_dn", "dn_to_slash", "dn_for_storage"]


class DNError(ValueError):
    """A DN could not be read; the message says what is wrong and where."""


# (canonical name, dotted OID, other spellings accepted on input, case-insensitively)
_ATTRIBUTE_TABLE = [
    ("CN", "2.5.4.3", ["commonName"]),
    ("SN", "2.5.4.4", ["surname"]),
    ("serialNumber", "2.5.4.5", []),
    ("C", "2.5.4.6", ["countryName"]),
    ("L", "2.5.4.7", ["localityName"]),
    ("ST", "2.5.4.8", ["S", "stateOrProvinceName"]),
    ("street", "2.5.4.9", ["streetAddress"]),
    ("O", "2.5.4.10", ["organizationName"]),
    ("OU", "2.5.4.11", ["organizationalUnitName"]),
    ("title", "2.5.4.12", []),
    ("businessCategory", "2.5.4.15", []),
    ("postalCode", "2.5.4.17", []),
    ("name", "2.5.4.41", []),
    ("GN", "2.5.4.42", ["givenName"]),
    ("initials", "2.5.4.43", []),
    ("generationQualifier", "2.5.4.44", []),
    ("dnQualifier", "2.5.4.46", []),
    ("pseudonym", "2.5.4.65", []),
    ("DC", "0.9.2342.19200300.100.1.25", ["domainComponent"]),
    ("UID", "0.9.2342.19200300.100.1.1", ["userId"]),
    ("emailAddress", "1.2.840.113549.1.9.1", ["E", "email"]),
]
_BY_SPELLING = {
    spelling.lower(): canonical
    for canonical, _oid, aliases in _ATTRIBUTE_TABLE
    for spelling in [canonical, *aliases]
}
_BY_OID = {oid: canonical for canonical, oid, _aliases in _ATTRIBUTE_TABLE}
_OID_OF = {canonical: oid for canonical, oid, _aliases in _ATTRIBUTE_TABLE}

_NAME_RE = re.compile(r"(?:OID\.)?[0-9]+(?:\.[0-9]+)+|[A-Za-z][A-Za-z0-9-]*", re.IGNORECASE)
# In slash form a bare '/' or '+' separates attributes only when an attribute name and '=' follow.
_ATTRIBUTE_AHEAD_RE = re.compile(rf"(?:{_NAME_RE.pattern})=", re.IGNORECASE)
_HEX = "0123456789abcdefABCDEF"
_RFC2253_SPECIALS = ',+"\\<>;= #/'
_SLASH_SPECIALS = '/+\\=,"<>;# '
_INPUT_SPACE = " \t\r\n"

# BER universal string types a '#'-hex value may carry, and how to decode their octets.
_BER_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T61), read as Latin-1 like OpenSSL
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute type and value, e.g. CN=Jane Doe. `name` is canonical (or a dotted OID)."""

    name: str
    value: str

    @property
    def oid(self) -> str:
        return _OID_OF.get(self.name, self.name)


RDN = tuple[Attribute, ...]


@dataclass(frozen=True, slots=True)
class DN:
    """A distinguished name: RDNs least-specific first (certificate order, as in slash form)."""

    rdns: tuple[RDN, ...]

    def __post_init__(self) -> None:
        if not self.rdns or not all(self.rdns):
            raise DNError("A distinguished name needs at least one attribute, such as CN=...")
        # One order for the attributes of a multi-valued RDN, the one dCache and Rucio see, so
        # "CN=a+UID=b" and "UID=b+CN=a" are one DN (and one stored identity).
        if any(len(rdn) > 1 for rdn in self.rdns):
            object.__setattr__(self, "rdns", tuple(_canl_order(rdn) for rdn in self.rdns))

    def __str__(self) -> str:
        return self.to_slash()

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        return tuple(attribute for rdn in self.rdns for attribute in rdn)

    @property
    def common_name(self) -> str:
        """The most specific CN (the person or service name), or "" when there is none."""
        names = [a.value for a in self.attributes if a.name == "CN"]
        return names[-1] if names else ""

    def to_slash(self) -> str:
        """OpenSSL slash form, least-specific first: /C=DE/O=GermanGrid/CN=Jane Doe."""
        text = "".join(
            "/" + "+".join(f"{a.name}={_escape_slash_value(a.value)}" for a in rdn)
            for rdn in self.rdns
        )
        if text.endswith("/"):  # a value ending in '/' would read as a stray separator
            text = text[:-1] + "\\/"
        elif text[-1] in _INPUT_SPACE:  # parse_dn trims the input; keep the value's own space
            text = text[:-1] + "\\" + text[-1]
        return text

    def to_storage(self) -> str:
        """The DN as a dCache login carries it and Rucio compares it (see dn_for_storage)."""
        return "".join(
            "/" + "+".join(f"{_canl_label(a)}={_canl_value(a.value)}" for a in rdn)
            for rdn in self.rdns
        )

    def to_rfc2253(self) -> str:
        """RFC 2253 / RFC 4514 form, most-specific first: CN=Jane Doe,O=GermanGrid,C=DE."""
        return ",".join(
            "+".join(f"{a.name}={_escape_rfc2253_value(a.value)}" for a in rdn)
            for rdn in reversed(self.rdns)
        )

    def to_x509_name(self) -> x509.Name:
        """The same name as a `cryptography` object (raises ValueError where it is stricter)."""
        return x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [x509.NameAttribute(x509.ObjectIdentifier(a.oid), a.value) for a in rdn]
                )
                for rdn in self.rdns
            ]
        )

    @classmethod
    def from_x509_name(cls, name: x509.Name) -> "DN":
        """From a `cryptography` name, e.g. a certificate's `subject`."""
        rdns = []
        for rdn in name.rdns:
            attributes = []
            for attribute in rdn:
                if not isinstance(attribute.value, str):
                    raise DNError(f"Attribute {attribute.oid.dotted_string} is not a string.")
                dotted = attribute.oid.dotted_string
                attributes.append(Attribute(_BY_OID.get(dotted, dotted), attribute.value))
            rdns.append(tuple(attributes))
        return cls(tuple(rdns))


def parse_dn(text: str) -> DN:
    """Read a DN in either form: slash form when it starts with '/', RFC 2253 otherwise."""
    if not isinstance(text, str):
        raise DNError(f"A DN must be text, not {type(text).__name__}.")
    text = _trim(text)
    if not text:
        raise DNError("The DN is empty: give one such as /C=DE/O=GermanGrid/CN=Jane Doe.")
    scanner = _Scanner(text)
    rdns = scanner.read_slash() if text.startswith("/") else scanner.read_rfc2253()
    return DN(rdns)


def dn_to_slash(text: str) -> str:
    """The canonical slash form of a DN given in either form (what Identity stores)."""
    return parse_dn(text).to_slash()


def dn_for_storage(text: str) -> str:
    """The DN in any accepted form as the storage side writes it: the exact string of canl-java's
    ``OpensslNameUtils.convertFromRfc2253(name, true)``, which dCache puts in a login's DN and
    Rucio's X.509 identities use (Apache's legacy "oneline" form).

    canl's rules: RDNs least specific first; the attributes of a multi-valued RDN joined by '+'
    in the reverse of their DER-sorted order; canl's attribute labels (EMAILADDRESS, sn, gn,
    SERIALNUMBER, ...); values not escaped at all ('/', '+', ',' and '\\' stay bare); every UTF-8
    byte >= 0x80 and every byte <= 0x1F written ``\\x`` plus upper-case hex without padding
    (``\\xC3\\xA4`` for ä, ``\\x9`` for a tab, as canl's ``Integer.toHexString`` does).
    """
    return parse_dn(text).to_storage()


# OID -> the label canl-java writes (JavaAndBCStyle's full label table, then canl's
# NORMALIZED_LABELS); an OID not listed here is written dotted.
_CANL_LABELS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "T",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "2.5.4.46": "dnQualifier",
    "2.5.4.4": "sn",
    "2.5.4.42": "gn",
    "2.5.4.43": "INITIALS",
    "2.5.4.44": "generationQualifier",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
    "0.9.2342.19200300.100.1.1": "UID",
    "2.5.4.5": "SERIALNUMBER",
    "1.2.840.113549.1.9.8": "unstructuredAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.65": "Pseudonym",
    "2.5.4.16": "PostalAddress",
    "1.3.6.1.5.5.7.9.4": "CountryOfCitizenship",
    "1.3.6.1.5.5.7.9.5": "CountryOfResidence",
    "1.3.6.1.5.5.7.9.3": "Gender",
    "1.3.6.1.5.5.7.9.2": "PlaceOfBirth",
    "1.3.6.1.5.5.7.9.1": "DateOfBirth",
    "2.5.4.17": "PostalCode",
    "2.5.4.15": "BusinessCategory",
    "2.5.4.20": "TelephoneNumber",
    "2.5.4.41": "Name",
}
# The string type BouncyCastle gives a value it reads from text (BCStyle): it decides where an
# attribute sorts among others of the same type and length in a multi-valued RDN.
_IA5_STRING_OIDS = {"1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"}
_PRINTABLE_STRING_OIDS = {"2.5.4.6", "2.5.4.5", "2.5.4.46", "2.5.4.20"}


def _canl_label(attribute: Attribute) -> str:
    return _CANL_LABELS.get(attribute.oid, attribute.oid)


def _canl_value(value: str) -> str:
    if value.isascii() and value.isprintable():
        return value
    return "".join(
        chr(byte) if 0x1F < byte < 0x80 else f"\\x{byte:X}" for byte in value.encode("utf-8")
    )


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _der_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    first = [40 * arcs[0] + arcs[1]] if len(arcs) > 1 else [arcs[0]]
    body = bytearray()
    for arc in first + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return b"\x06" + _der_length(len(body)) + bytes(body)


def _der_attribute(attribute: Attribute) -> bytes:
    """AttributeTypeAndValue as BouncyCastle encodes it after reading the DN as text."""
    oid = attribute.oid
    if oid in _IA5_STRING_OIDS or oid in _PRINTABLE_STRING_OIDS:
        tag = 0x16 if oid in _IA5_STRING_OIDS else 0x13
        # BouncyCastle keeps the low byte of each UTF-16 unit of these 8-bit string types.
        units = attribute.value.encode("utf-16-be")
        octets = bytes(units[i + 1] for i in range(0, len(units), 2))
    else:
        tag, octets = 0x0C, attribute.value.encode("utf-8", "surrogatepass")
    body = _der_oid(oid) + bytes([tag]) + _der_length(len(octets)) + octets
    return b"\x30" + _der_length(len(body)) + body


def _canl_order(rdn: RDN) -> RDN:
    """canl writes a multi-valued RDN's attributes in the reverse of the DER SET OF order."""
    if len(rdn) < 2:
        return rdn
    return tuple(sorted(rdn, key=_der_attribute, reverse=True))


def canonical_attribute_name(name: str) -> str:
    """CN for 'cn' or 'commonName' or '2.5.4.3'; dotted OIDs without a short name stay dotted."""
    if name[:1].isdigit() or name[:4].upper() == "OID.":
        dotted = name[4:] if name[:4].upper() == "OID." else name
        return _BY_OID.get(dotted, dotted)
    canonical = _BY_SPELLING.get(name.lower())
    if canonical is None:
        raise DNError(
            f"{name!r} is not an attribute name this portal knows: use CN, O, OU, C, L, ST, DC, "
            "UID, emailAddress or another standard name, or a dotted OID."
        )
    return canonical


def _trim(text: str) -> str:
    """Strip surrounding whitespace, but keep a final space that is escaped (``\\ ``)."""
    text = text.lstrip(_INPUT_SPACE)
    stripped = text.rstrip(_INPUT_SPACE)
    backslashes = len(stripped) - len(stripped.rstrip("\\"))
    if backslashes % 2 == 1 and len(text) > len(stripped):
        stripped += text[len(stripped)]
    return stripped


def _hex_escape(ch: str) -> str:
    return "".join(f"\\{byte:02X}" for byte in ch.encode("utf-8"))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"


def _escape_rfc2253_value(value: str) -> str:
    last = len(value) - 1
    out = []
    for i, ch in enumerate(value):
        if _is_control(ch):
            out.append(_hex_escape(ch))
        elif ch in ',+"\\<>;' or (i == 0 and ch in " #") or (i == last and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _escape_slash_value(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if _is_control(ch):
            out.append(_hex_escape(ch))
        elif ch == "\\" or (ch in "/+" and _ATTRIBUTE_AHEAD_RE.match(value, i + 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _decode_ber_string(octets: bytes, where: str) -> str:
    problem = f"the '#' value {where} is not a BER-encoded string"
    if len(octets) < 2:
        raise DNError(f"{problem}: it is too short.")
    tag, length, offset = octets[0], octets[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or len(octets) < 2 + size:
            raise DNError(f"{problem}: its length field is broken.")
        length, offset = int.from_bytes(octets[2 : 2 + size], "big"), 2 + size
    if offset + length != len(octets):
        raise DNError(
            f"{problem}: its length says {length} bytes, but {len(octets) - offset} follow."
        )
    codec = _BER_STRING_CODECS.get(tag)
    if codec is None:
        raise DNError(f"{problem}: type 0x{tag:02X} is not a string type.")
    try:
        return octets[offset:].decode(codec)
    except UnicodeDecodeError as exc:
        raise DNError(f"{problem}: its bytes are not valid {codec}.") from exc


class _Scanner:
    """Reads one DN string left to right; errors name the character position (1-based)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> DNError:
        where = (self.pos if pos is None else pos) + 1
        return DNError(f"Cannot read the DN '{self.text}': {message} (at character {where}).")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def read_name(self, after: str) -> str:
        match = _NAME_RE.match(self.text, self.pos)
        if not match:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected an attribute name such as CN {after}, found {found}")
        start, self.pos = self.pos, match.end()
        try:
            return canonical_attribute_name(match.group())
        except DNError as exc:
            raise self.fail(str(exc).rstrip("."), start) from None

    def expect_equals(self, name: str) -> None:
        if self.peek() != "=":
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.fail(f"expected '=' after {name}, found {found}")
        self.pos += 1

    def hex_ahead(self, pos: int, slash: bool) -> int:
        """Length of the hex escape body at pos (after a backslash): 2 for XX, 3 for xXX (slash
        form, as OpenSSL, Apache and canl write bytes), 0 when there is none."""
        if slash and self.text[pos : pos + 1] == "x":
            return (
                3
                if all(c in _HEX for c in self.text[pos + 1 : pos + 3])
                and len(self.text) >= pos + 3
                else 0
            )
        return (
            2
            if len(self.text) >= pos + 2 and all(c in _HEX for c in self.text[pos : pos + 2])
            else 0
        )

    def read_escape(self, specials: str, *, slash: bool = False) -> str:
        """After a backslash: one escaped special character, or a run of \\XX (or, in slash
        form, \\xXX) hex bytes."""
        start = self.pos - 1
        ch = self.peek()
        if size := self.hex_ahead(self.pos, slash):
            octets = bytearray()
            while True:
                octets.append(int(self.text[self.pos + size - 2 : self.pos + size], 16))
                self.pos += size
                if self.text[self.pos : self.pos + 1] != "\\":
                    break
                size = self.hex_ahead(self.pos + 1, slash)
                if not size:
                    break
                self.pos += 1
            try:
                return octets.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail(
                    "the hex escapes here are not valid UTF-8 (write é as \\C3\\A9 or \\xC3\\xA9)",
                    start,
                ) from None
        if ch and ch in specials:
            self.pos += 1
            return ch
        shown = f"'\\{ch}' is not an escape" if ch else "a lone '\\' ends the DN"
        raise self.fail(
            f"{shown}: a backslash goes before one of {specials.strip()} or a space, "
            "or before two hex digits",
            start,
        )

    def finish_value(self, name: str, chars: list[tuple[str, bool]], start: int) -> Attribute:
        value = "".join(text for text, _escaped in chars)
        if not value:
            raise self.fail(f"{name} has no value", start)
        if name == "C" and not (len(value) == 2 and value.isascii() and value.isalpha()):
            slashes = "/" in value and not self.text.startswith("/")
            hint = " (a slash-form DN starts with '/')" if slashes else ""
            raise self.fail(f"C must be a two-letter country code such as DE{hint}", start)
        return Attribute(name, value)

    # RFC 2253: CN=Jane Doe,O=GermanGrid,C=DE — most-specific first; ';' also separates RDNs.
    def read_rfc2253(self) -> tuple[RDN, ...]:
        rdns: list[RDN] = []
        current: list[Attribute] = []
        while True:
            self.skip_spaces()
            name = self.read_name("at the start of an RDN" if not current else "after '+'")
            self.skip_spaces()
            self.expect_equals(name)
            self.skip_spaces()
            current.append(self.read_rfc2253_value(name))
            self.skip_spaces()
            separator = self.peek()
            if not separator:
                rdns.append(tuple(current))
                return tuple(reversed(rdns))
            self.pos += 1
            if separator in ",;":  # otherwise '+': the next attribute joins this RDN
                rdns.append(tuple(current))
                current = []

    def read_rfc2253_value(self, name: str) -> Attribute:
        start = self.pos
        if self.peek() == "#":
            self.pos += 1
            hex_start = self.pos
            while self.peek() and self.peek() in _HEX:
                self.pos += 1
            digits = self.text[hex_start : self.pos]
            if not digits or len(digits) % 2:
                raise self.fail(f"after '#' the value of {name} must be pairs of hex digits", start)
            self.skip_spaces()
            if self.peek() and self.peek() not in ",;+":
                raise self.fail(f"the '#' value of {name} ends with {self.peek()!r}")
            try:
                value = _decode_ber_string(bytes.fromhex(digits), f"of {name}")
            except DNError as exc:
                raise self.fail(str(exc).rstrip("."), start) from None
            return self.finish_value(name, [(value, True)], start)
        chars: list[tuple[str, bool]] = []
        if self.peek() == '"':  # RFC 1779 quoting, which RFC 2253 parsers still accept
            self.pos += 1
            while self.peek() != '"':
                ch = self.peek()
                if not ch:
                    raise self.fail(f"the quoted value of {name} has no closing '\"'", start)
                self.pos += 1
                chars.append(
                    (self.read_escape(_RFC2253_SPECIALS), True) if ch == "\\" else (ch, True)
                )
            self.pos += 1
            self.skip_spaces()
            if self.peek() and self.peek() not in ",;+":
                raise self.fail(f"unexpected {self.peek()!r} after the quoted value of {name}")
            return self.finish_value(name, chars, start)
        while self.peek() and self.peek() not in ",;+":
            ch = self.peek()
            self.pos += 1
            chars.append((self.read_escape(_RFC2253_SPECIALS), True) if ch == "\\" else (ch, False))
        while chars and chars[-1] == (" ", False):  # unescaped spaces around a value are padding
            chars.pop()
        return self.finish_value(name, chars, start)

    # Slash form: /C=DE/O=GermanGrid/CN=Jane Doe — least-specific first, '+' joins an RDN.
    def read_slash(self) -> tuple[RDN, ...]:
        rdns: list[RDN] = []
        current: list[Attribute] = []
        self.pos = 1
        while True:
            start = self.pos
            name = self.read_name("after '/'" if not current else "after '+'")
            self.expect_equals(name)
            chars: list[tuple[str, bool]] = []
            while self.peek():
                ch = self.peek()
                if ch in "/+" and _ATTRIBUTE_AHEAD_RE.match(self.text, self.pos + 1):
                    break
                if ch == "/" and self.pos == len(self.text) - 1:
                    raise self.fail("the DN ends with '/': remove it, or write \\/ for a slash")
                self.pos += 1
                chars.append(
                    (self.read_escape(_SLASH_SPECIALS, slash=True), True)
                    if ch == "\\"
                    else (ch, False)
                )
            current.append(self.finish_value(name, chars, start))
            separator = self.peek()
            if not separator:
                rdns.append(tuple(current))
                return tuple(rdns)
            self.pos += 1
            if separator == "/":
                rdns.append(tuple(current))
                current = []
