"""Rucio's OIDC identity string and the per-type normalisation Identity relies on."""

import pytest

from accounts.identities import normalise_identity, parse_oidc_identity


def test_rucios_oidc_identity_format_is_read():
    text = "SUB=a1b2-c3, ISS=https://iam.example.org/"
    assert parse_oidc_identity(text) == ("a1b2-c3", "https://iam.example.org/")


def test_subjects_may_hold_spaces_and_commas_but_the_issuer_is_the_last_iss():
    sub, issuer = parse_oidc_identity("SUB=Doe, Jane, ISS=https://sso.example.org/realm")
    assert (sub, issuer) == ("Doe, Jane", "https://sso.example.org/realm")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("abc", "not an OIDC identity"),
        ("SUB=abc,ISS=https://iam.example.org/", "not an OIDC identity"),
        ("sub=abc, iss=https://iam.example.org/", "not an OIDC identity"),
        ("SUB=, ISS=https://iam.example.org/", "subject"),
        ("SUB= abc, ISS=https://iam.example.org/", "subject"),
        ("SUB=a\tb, ISS=https://iam.example.org/", "control character"),
        ("SUB=a\x00b, ISS=https://iam.example.org/", "control character"),
        ("SUB=abc, ISS=iam.example.org", "not an http(s) URL"),
        ("SUB=abc, ISS=https://iam.example.org/ x", "not an http(s) URL"),
        ("SUB=abc, ISS=https://a/, ISS=https://b/", "ISS= twice"),
    ],
)
def test_malformed_oidc_identities_are_refused(text, says):
    with pytest.raises(ValueError) as caught:
        parse_oidc_identity(text)
    assert says in str(caught.value)


def test_normalise_x509_gives_the_canonical_slash_form():
    assert normalise_identity(type="X509", identity="CN=Jane,O=Grid,C=DE") == "/C=DE/O=Grid/CN=Jane"


def test_normalise_oidc_only_trims_around_it():
    text = "  SUB=abc, ISS=https://iam.example.org/ \n"
    assert normalise_identity(type="OIDC", identity=text) == text.strip()


@pytest.mark.parametrize(
    ("type", "says"), [("SSH", "cannot be added yet"), ("KERBEROS", "OIDC or X509")]
)
def test_other_types_are_refused(type, says):
    with pytest.raises(ValueError) as caught:
        normalise_identity(type=type, identity="x")
    assert says in str(caught.value)
