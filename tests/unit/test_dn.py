"""DN parsing and formatting: property tests for both forms, cross-checked with `cryptography`."""

import string
import unicodedata

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.dn import DN, Attribute, DNError, dn_to_slash, parse_dn

# Characters that mean something in one form or the other, plus UTF-8 and control characters.
TRICKY = list(',+"\\<>;=/# ') + ["\t", "\x00", "\x7f", "é", "ß", "日", "\u00a0", "\u3000", "😀"]
value_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(TRICKY),
        st.characters(codec="utf-8"),
        st.sampled_from(string.ascii_letters + string.digits + "-.:@"),
    ),
    min_size=1,
    max_size=24,
)
# Values that look like the start of another attribute, to stress the slash-form lookahead.
sneaky_text = st.builds(
    lambda a, sep, name, b: f"{a}{sep}{name}={b}",
    st.text(alphabet="ab /+", max_size=3),
    st.sampled_from("/+"),
    st.sampled_from(["CN", "cn", "O", "2.5.4.3", "OID.2.5.4.3", "x-y"]),
    st.text(alphabet="ab /+=", max_size=3),
)
NAMES = ["CN", "O", "OU", "L", "ST", "DC", "UID", "emailAddress", "serialNumber", "street", "GN"]
attribute = st.one_of(
    st.builds(Attribute, st.sampled_from(NAMES), st.one_of(value_text, sneaky_text)),
    st.builds(
        Attribute, st.just("C"), st.text(alphabet=string.ascii_letters, min_size=2, max_size=2)
    ),
    st.builds(Attribute, st.just("1.3.6.1.4.1.99999.7"), value_text),
)
rdn = st.lists(attribute, min_size=1, max_size=3).map(tuple)
dns = st.lists(rdn, min_size=1, max_size=6).map(lambda rdns: DN(tuple(rdns)))


@given(dns)
@example(DN(((Attribute("CN", "host/se.example.org"),),)))
@example(DN(((Attribute("CN", "a/CN=b"),), (Attribute("O", "x+"),))))
@example(DN(((Attribute("CN", "ends with a slash/"),),)))
@example(DN(((Attribute("CN", " padded "),),)))
@example(DN(((Attribute("CN", "#hash"), Attribute("UID", "  ")),)))
def test_slash_form_reads_back_exactly(dn):
    assert parse_dn(dn.to_slash()) == dn


@given(dns)
@example(DN(((Attribute("CN", "Doe, Jane"), Attribute("UID", "a+b")),)))
@example(DN(((Attribute("CN", " lead and trail "),),)))
@example(DN(((Attribute("CN", '"quoted" \\ <tag>; x=y'),),)))
def test_rfc2253_form_reads_back_exactly(dn):
    assert parse_dn(dn.to_rfc2253()) == dn


@given(dns)
def test_both_forms_give_the_same_canonical_slash_form(dn):
    assert dn_to_slash(dn.to_rfc2253()) == dn_to_slash(dn.to_slash()) == dn.to_slash()


@given(dns)
def test_forms_order_rdns_oppositely(dn):
    slash_first = dn.rdns[0][0].name
    assert dn.to_slash().startswith(f"/{slash_first}=")
    assert dn.to_rfc2253().startswith(f"{dn.rdns[-1][0].name}=")


@given(dns)
def test_formatted_text_has_no_raw_control_characters(dn):
    for text in (dn.to_slash(), dn.to_rfc2253()):
        assert not any(ord(ch) < 0x20 or ch == "\x7f" for ch in text)


# cryptography's names: its short names, with the OpenSSL ones it lacks given as overrides.
CRYPTO_NAMES = {"emailAddress": NameOID.EMAIL_ADDRESS, "serialNumber": NameOID.SERIAL_NUMBER}
crypto_attribute = st.one_of(
    st.builds(
        Attribute,
        st.sampled_from(["O", "OU", "L", "ST", "DC", "UID", "emailAddress", "serialNumber"]),
        value_text,
    ),
    st.builds(Attribute, st.just("CN"), value_text.filter(lambda v: len(v.encode()) <= 64)),
)
crypto_dns = st.lists(
    st.lists(crypto_attribute, min_size=1, max_size=3, unique=True).map(tuple),
    min_size=1,
    max_size=5,
).map(lambda rdns: DN(tuple(rdns)))


@given(crypto_dns)
def test_cryptography_reads_our_rfc2253_form_as_the_same_name(dn):
    assert x509.Name.from_rfc4514_string(dn.to_rfc2253(), CRYPTO_NAMES) == dn.to_x509_name()


def _no_control_characters(dn: DN) -> bool:
    return not any(unicodedata.category(ch) == "Cc" for a in dn.attributes for ch in a.value)


# cryptography writes control characters raw, and parse_dn trims whitespace around its input.
@given(crypto_dns.filter(_no_control_characters))
def test_we_read_cryptographys_rfc4514_form_as_the_same_name(dn):
    name = dn.to_x509_name()
    assert parse_dn(name.rfc4514_string()) == DN.from_x509_name(name) == dn


EXAMPLES = [
    # (as a proxy or SCIM gives it, canonical slash form)
    ("CN=Jane Doe,O=GermanGrid,C=DE", "/C=DE/O=GermanGrid/CN=Jane Doe"),
    ("CN=Jane Doe, OU=KIT, O=GermanGrid, C=DE", "/C=DE/O=GermanGrid/OU=KIT/CN=Jane Doe"),
    (
        "CN=Jane Doe,CN=654321,CN=jdoe,OU=Users,OU=Organic Units,DC=cern,DC=ch",
        "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=jdoe/CN=654321/CN=Jane Doe",
    ),
    (
        "CN=Jane Doe jdoe@example.org,O=Example University,C=US,DC=cilogon,DC=org",
        "/DC=org/DC=cilogon/C=US/O=Example University/CN=Jane Doe jdoe@example.org",
    ),
    (
        "CN=Vanessa Hamar,OU=CPPM,O=CNRS,C=FR,O=GRID-FR",
        "/O=GRID-FR/C=FR/O=CNRS/OU=CPPM/CN=Vanessa Hamar",
    ),
    (
        "CN=host/se.example.org,OU=Services,DC=doegrids,DC=org",
        "/DC=org/DC=doegrids/OU=Services/CN=host/se.example.org",
    ),
    (
        "emailAddress=jane.doe@example.ac.uk,CN=jane doe,L=OeSC,OU=Oxford,O=eScience,C=UK",
        "/C=UK/O=eScience/OU=Oxford/L=OeSC/CN=jane doe/emailAddress=jane.doe@example.ac.uk",
    ),
    # nginx ($ssl_client_s_dn) escapes non-ASCII bytes as \XX hex
    (r"CN=Jos\C3\A9 M\C3\BCller,O=GermanGrid,C=DE", "/C=DE/O=GermanGrid/CN=José Müller"),
    ("CN=José Müller,O=GermanGrid,C=DE", "/C=DE/O=GermanGrid/CN=José Müller"),
    (r"CN=Doe\, Jane,O=Grid\+Ka,C=DE", "/C=DE/O=Grid+Ka/CN=Doe, Jane"),
    ('CN="Doe, Jane",O=GermanGrid,C=DE', "/C=DE/O=GermanGrid/CN=Doe, Jane"),
    # a multi-valued RDN in canl's order (reverse DER order), whichever order it came in
    ("CN=Jane Doe+UID=jdoe,O=GermanGrid,C=DE", "/C=DE/O=GermanGrid/UID=jdoe+CN=Jane Doe"),
    ("UID=jdoe+CN=Jane Doe,O=GermanGrid,C=DE", "/C=DE/O=GermanGrid/UID=jdoe+CN=Jane Doe"),
    # OpenSSL/Apache/canl "oneline" form: UTF-8 bytes as \xHH
    (
        r"/C=DE/O=Universit\xC3\xA4t Hamburg/CN=J\xC3\xBCrgen",
        "/C=DE/O=Universität Hamburg/CN=Jürgen",
    ),
    (r"CN=a\=b\;c\<d\>e\"f\\g,C=DE", '/C=DE/CN=a=b;c<d>e"f\\\\g'),
    ("CN=#0C084A616E6520446F65,C=DE", "/C=DE/CN=Jane Doe"),  # DER UTF8String
    (
        "1.2.840.113549.1.9.1=#160d6a406578616d706c652e6f7267,CN=J",
        "/CN=J/emailAddress=j@example.org",
    ),
    ("cn=Jane Doe;o=GermanGrid;c=DE", "/C=DE/O=GermanGrid/CN=Jane Doe"),
    ("OID.2.5.4.3=Jane,commonName=J2,E=j@example.org", "/emailAddress=j@example.org/CN=J2/CN=Jane"),
    ("  /C=DE/O=GermanGrid/CN=Jane Doe\n", "/C=DE/O=GermanGrid/CN=Jane Doe"),
    ("/C=DE/O=GermanGrid/CN=C++ developers", "/C=DE/O=GermanGrid/CN=C++ developers"),
    (r"/C=DE/O=GermanGrid/CN=a\/CN=b", r"/C=DE/O=GermanGrid/CN=a\/CN=b"),
    (r"/C=DE/O=GermanGrid/CN=plain\/slash", "/C=DE/O=GermanGrid/CN=plain/slash"),
    (r"/C=DE/CN=Jos\C3\A9", "/C=DE/CN=José"),
    ("/C=DE/O=GermanGrid/CN=Jane Doe/1.3.6.1.4.1.99999.1=x", None),
]


@pytest.mark.parametrize(("given_text", "slash"), EXAMPLES)
def test_real_grid_dns_reach_their_canonical_slash_form(given_text, slash):
    expected = slash if slash is not None else given_text
    assert dn_to_slash(given_text) == expected
    assert dn_to_slash(parse_dn(given_text).to_rfc2253()) == expected


def test_rfc2253_output_for_a_german_grid_user():
    dn = parse_dn("/C=DE/O=GermanGrid/OU=DESY/CN=Jane Doe, PhD")
    assert dn.to_rfc2253() == r"CN=Jane Doe\, PhD,OU=DESY,O=GermanGrid,C=DE"
    assert dn.common_name == "Jane Doe, PhD"
    assert str(dn) == "/C=DE/O=GermanGrid/OU=DESY/CN=Jane Doe, PhD"


def test_most_specific_cn_is_the_common_name():
    dn = parse_dn("/DC=ch/DC=cern/OU=Users/CN=jdoe/CN=654321/CN=Jane Doe")
    assert dn.common_name == "Jane Doe"
    assert parse_dn("/DC=org/O=x").common_name == ""


def test_a_certificate_subject_converts_both_ways():
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Jane Doe"),
                    x509.NameAttribute(NameOID.USER_ID, "jdoe"),
                ]
            ),
        ]
    )
    dn = DN.from_x509_name(name)
    assert dn.to_slash() == "/C=DE/UID=jdoe+CN=Jane Doe"
    assert dn.to_x509_name() == name


ERRORS = [
    ("", "empty"),
    ("   ", "empty"),
    ("Jane Doe", "'Jane' is not an attribute name"),
    ("CN=Jane,O", "expected '=' after O"),
    ("C=DE/O=GermanGrid/CN=Jane Doe", "a slash-form DN starts with '/'"),
    ("/C=Germany/CN=x", "two-letter country code"),
    ("/C=DE/", "ends with '/'"),
    ("/", "expected an attribute name"),
    ("/=x", "expected an attribute name"),
    ("CN=x,FOO=y", "'FOO' is not an attribute name"),
    (r"CN=a\q", r"'\q' is not an escape"),
    ("CN=a\\", "a lone '\\' ends the DN"),
    (r"CN=\C3", "not valid UTF-8"),
    ("CN=#0c", "not a BER-encoded string"),
    ("CN=#0c03ab", "not a BER-encoded string"),
    ("CN=#020101", "not a string type"),
    ("CN=#abc", "pairs of hex digits"),
    ('CN="abc', "no closing"),
    ('CN="abc"x', "after the quoted value"),
    ("/CN=", "CN has no value"),
    ("CN=,O=x", "CN has no value"),
    ("CN=a,", "expected an attribute name"),
    ("CN=a++O=b", "expected an attribute name"),
]


@pytest.mark.parametrize(("text", "says"), ERRORS)
def test_malformed_dns_are_refused_with_a_reason(text, says):
    with pytest.raises(DNError) as caught:
        parse_dn(text)
    assert says in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_names_the_position():
    with pytest.raises(DNError, match=r"at character 6"):
        parse_dn("CN=x,FOO=y")


def test_non_text_is_refused():
    with pytest.raises(DNError, match="must be text"):
        parse_dn(b"/CN=x")  # type: ignore[arg-type]
