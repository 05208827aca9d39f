"""The one account-name rule: valid for Rucio and a portable POSIX user name, however derived."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.names import account_name_base, account_name_derive, account_name_valid


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("jane.doe", "jane_doe"),
        ("Jane Doe", "jane_doe"),
        ("José Müller", "jose_muller"),
        ("-x-", "x"),
        ("_svc", "svc"),
        ("a" * 40, "a" * 25),
        ("日本", ""),
    ],
)
def test_base_names(text, name):
    assert account_name_base(text) == name


def test_a_taken_name_gets_a_number_and_stays_within_25_characters():
    taken = {"jane_doe", "jane_doe2", "user1", "b" * 25}
    assert account_name_derive("jane.doe", taken=taken.__contains__) == "jane_doe3"
    assert account_name_derive("", taken=taken.__contains__) == "user2"
    assert account_name_derive("b" * 30, taken=taken.__contains__) == "b" * 24 + "2"


@pytest.mark.parametrize("name", ["-jane", "Jane", "jane.doe", "", "a" * 26, "jane\n"])
def test_invalid_names(name):
    assert not account_name_valid(name)


@given(st.text(max_size=60), st.sets(st.text(alphabet="abc_-12", max_size=5), max_size=20))
def test_every_derived_name_is_valid_and_free(text, taken):
    name = account_name_derive(text, taken=taken.__contains__)
    assert account_name_valid(name) and name not in taken
    assert not name.startswith("-") and len(name) <= 25
