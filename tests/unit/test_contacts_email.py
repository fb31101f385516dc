"""Email normalisation: the fast pattern never disagrees with email-validator."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.domain.contacts import _fast_email, email_or_none, normalize_email, plain_ascii_email
from sendhouse.errors import InvalidInput


def reference(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


LOCAL = st.text(alphabet="abcXYZ019.!#$%&'*+/=?^_`{|}~-\"@ ", min_size=0, max_size=70)
LABEL = st.text(alphabet="abz09-_.", min_size=0, max_size=66)
DOMAIN = st.lists(LABEL, min_size=1, max_size=4).map(".".join) | st.sampled_from(
    [
        "example.com",
        "b.test",
        "x.local",
        "xn--bcher-kva.com",
        "ab--cd.com",
        "a.b.c",
        "localhost",
        "x.onion",
        "1.2.3.4",
        "[127.0.0.1]",
        "example.co.uk",
        "EXAMPLE.COM",
    ]
)


@settings(max_examples=800, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_fast_path_agrees_with_email_validator(local, domain):
    value = f"{local}@{domain}"
    if _fast_email(value.strip().lower()):
        assert reference(value) == value.strip().lower()
    assert email_or_none(value) == reference(value)


@settings(max_examples=800, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_plain_ascii_form_is_email_validators_normalized_form(local, domain):
    value = f"{local}@{domain}"
    fast = plain_ascii_email(value)
    if fast is not None:
        assert fast == validate_email(value, check_deliverability=False).normalized


def test_plain_ascii_form_keeps_the_local_part():
    assert plain_ascii_email("Ada.Lovelace@Example.COM") == "Ada.Lovelace@example.com"
    assert plain_ascii_email("Ünï@bücher.de") is None and plain_ascii_email(" a@example.com") is None


@pytest.mark.parametrize(
    "value,expected",
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  bob.smith+tag@mail.example.org ", "bob.smith+tag@mail.example.org"),
        ("x@xn--bcher-kva.com", "x@bücher.com"),
        ("Ünï@Bücher.de", "ünï@bücher.de"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_valid_addresses_are_stored_lower_case(value, expected):
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "plain",
        "a@b",
        "a@@example.com",
        "a..b@example.com",
        ".a@example.com",
        "a@example.test",
        "a@localhost",
        "a@-example.com",
        "a b@example.com",
        "a@" + "x" * 250 + ".com",
        None,
        5,
        ["a@example.com"],
    ],
)
def test_invalid_addresses_are_refused(value):
    with pytest.raises(InvalidInput) as caught:
        normalize_email(value, "emails.0")
    assert caught.value.details[0]["field"] == "emails.0"


PLAUSIBLE_LOCAL = st.from_regex(r"[a-zA-Z0-9+_.-]{1,66}", fullmatch=True)
PLAUSIBLE_DOMAIN = st.from_regex(r"([a-zA-Z0-9-]{1,64}\.){1,3}[a-zA-Z]{1,8}", fullmatch=True)


@settings(max_examples=800, deadline=None)
@given(local=PLAUSIBLE_LOCAL, domain=PLAUSIBLE_DOMAIN)
def test_fast_path_agrees_on_plausible_addresses(local, domain):
    value = f"{local}@{domain}"
    assert email_or_none(value) == reference(value)
