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

__all__ = ["DN", "DNError", "Attribute", "parse_dn", "dn_to_slash"]


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

    def read_escape(self, specials: str) -> str:
        """After a backslash: one escaped special character, or a run of \\XX hex bytes."""
        start = self.pos - 1
        ch = self.peek()
        if len(self.text) >= self.pos + 2 and all(
            c in _HEX for c in self.text[self.pos : self.pos + 2]
        ):
            octets = bytearray()
            while True:
                octets.append(int(self.text[self.pos : self.pos + 2], 16))
                self.pos += 2
                following = self.text[self.pos : self.pos + 3]
                if not (len(following) == 3 and following[0] == "\\"):
                    break
                if not all(c in _HEX for c in following[1:]):
                    break
                self.pos += 1
            try:
                return octets.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail(
                    "the hex escapes here are not valid UTF-8 (write é as \\C3\\A9)", start
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
                    (self.read_escape(_SLASH_SPECIALS), True) if ch == "\\" else (ch, False)
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
