"""dn_for_storage against canl-java's convertFromRfc2253(name, true), for real certificates.

The expected strings are worked out by hand from canl's rules (OpensslNameUtils, JavaAndBCStyle):
RDNs least specific first; a multi-valued RDN's attributes in the reverse of their DER order
(a SET OF sorts by encoding: SEQUENCE length first, then the OID bytes); canl's labels; values
unescaped; UTF-8 bytes >= 0x80 and bytes <= 0x1F as \\x plus upper-case hex.
"""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accounts.dn import DN, dn_for_storage, dn_to_slash

KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(*rdns: list[x509.NameAttribute]) -> x509.Certificate:
    name = x509.Name([x509.RelativeDistinguishedName(rdn) for rdn in rdns])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )


A = x509.NameAttribute
CASES = [
    # ä = C3 A4, ü = C3 BC
    (
        [
            [A(NameOID.COUNTRY_NAME, "DE")],
            [A(NameOID.ORGANIZATION_NAME, "Universität Hamburg")],
            [A(NameOID.COMMON_NAME, "Jürgen Müller")],
        ],
        r"/C=DE/O=Universit\xC3\xA4t Hamburg/CN=J\xC3\xBCrgen M\xC3\xBCller",
    ),
    # CN=Ann Lee encodes as 30 0E, UID=alee as 30 12: DER order CN, UID; canl writes UID first
    (
        [
            [A(NameOID.COUNTRY_NAME, "DE")],
            [A(NameOID.ORGANIZATION_NAME, "Example")],
            [A(NameOID.COMMON_NAME, "Ann Lee"), A(NameOID.USER_ID, "alee")],
        ],
        "/C=DE/O=Example/UID=alee+CN=Ann Lee",
    ),
    # CN=Bob and OU=Lab are both 30 0A; OID 55 04 03 sorts before 55 04 0B: OU first
    (
        [
            [A(NameOID.COUNTRY_NAME, "DE")],
            [A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Lab"), A(NameOID.COMMON_NAME, "Bob")],
        ],
        "/C=DE/OU=Lab+CN=Bob",
    ),
    # multi-valued and non-ASCII together: CN=Zoë (5 bytes) 30 0C, UID=z (1 byte) 30 0F
    (
        [
            [A(NameOID.DOMAIN_COMPONENT, "org")],
            [A(NameOID.USER_ID, "z"), A(NameOID.COMMON_NAME, "Zoë")],
        ],
        r"/DC=org/UID=z+CN=Zo\xC3\xAB",
    ),
    # values unescaped: the comma, the quote and one backslash stay as they are
    (
        [
            [A(NameOID.DOMAIN_COMPONENT, "org")],
            [A(NameOID.COMMON_NAME, 'Bob "B" O\'Neil, Jr.')],
            [A(NameOID.COMMON_NAME, "back\\slash")],
        ],
        '/DC=org/CN=Bob "B" O\'Neil, Jr./CN=back\\slash',
    ),
    # canl's labels: EMAILADDRESS, sn, gn, SERIALNUMBER; a control byte without padding
    (
        [
            [A(NameOID.SURNAME, "Lee")],
            [A(NameOID.GIVEN_NAME, "Ann")],
            [A(NameOID.SERIAL_NUMBER, "42")],
            [A(NameOID.EMAIL_ADDRESS, "ann@example.org")],
            [A(NameOID.COMMON_NAME, "tab\there")],
        ],
        "/sn=Lee/gn=Ann/SERIALNUMBER=42/EMAILADDRESS=ann@example.org/CN=tab\\x9here",
    ),
]


@pytest.mark.parametrize(("rdns", "canl"), CASES)
def test_certificate_subjects_render_as_canl_writes_them(rdns, canl):
    subject = certificate(*rdns).subject
    assert DN.from_x509_name(subject).to_storage() == canl
    assert dn_for_storage(subject.rfc4514_string()) == canl
    # The stored slash form and canl's own string are other ways in to the same DN.
    stored = dn_to_slash(subject.rfc4514_string())
    assert dn_for_storage(stored) == canl
    # canl's form reads back unless it holds a bare backslash (ambiguous there by design).
    if "\\slash" not in canl and "\\x9" not in canl:
        assert dn_to_slash(canl) == stored


def test_our_der_order_is_the_order_cryptography_encodes():
    subject = certificate(
        [
            A(NameOID.COMMON_NAME, "Ann Lee"),
            A(NameOID.USER_ID, "alee"),
            A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Physics"),
        ]
    ).subject
    der = subject.public_bytes()
    # cryptography writes the SET OF in DER order; canl writes its reverse
    found = [der.index(a.value.encode()) for a in subject.rdns[0]]
    order = [a.value for _, a in sorted(zip(found, subject.rdns[0], strict=True))]
    rdn = DN.from_x509_name(subject).rdns[0]
    assert [a.value for a in rdn] == list(reversed(order))
