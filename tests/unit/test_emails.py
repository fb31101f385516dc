"""Email addresses (domain/emails.py): the fast path never disagrees with email-validator, the two
forms (normalized and key), and the one field-path format of errors."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sendhouse.api.errors import _field_name
from sendhouse.domain import emails
from sendhouse.errors import InvalidInput


def reference(value: str) -> str | None:
    """email-validator's own normalised form, or None."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def reference_key(value: str) -> str | None:
    found = reference(value)
    return found.lower() if found is not None else None


LOCAL = st.text(alphabet="abcXYZ019.!#$%&'*+/=?^_`{|}~-\"@ ", min_size=0, max_size=70)
LABEL = st.text(alphabet="abzAZ09-_.", min_size=0, max_size=66)
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
        "Bücher.DE",
    ]
)


@settings(max_examples=800, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
@example(local="0", domain="0---0.AA")  # "--" in a label's positions 3-4 after a dash (found by this test)
def test_both_forms_agree_with_email_validator(local, domain):
    value = f" {local}@{domain}"
    assert emails.normalized_or_none(value) == reference(value)
    assert emails.key_or_none(value) == reference_key(value)


PLAUSIBLE_LOCAL = st.from_regex(r"[a-zA-Z0-9+_.-]{1,66}", fullmatch=True)
PLAUSIBLE_DOMAIN = st.from_regex(r"([a-zA-Z0-9-]{1,64}\.){1,3}[a-zA-Z]{1,8}", fullmatch=True)


@settings(max_examples=800, deadline=None)
@given(local=PLAUSIBLE_LOCAL, domain=PLAUSIBLE_DOMAIN)
def test_fast_path_agrees_on_plausible_addresses(local, domain):
    value = f"{local}@{domain}"
    assert emails.normalized_or_none(value) == reference(value)
    assert emails.key_or_none(value) == reference_key(value)


@pytest.mark.parametrize(
    "value,normalized,key",
    [
        ("Ada@Example.COM", "Ada@example.com", "ada@example.com"),
        (
            "  bob.Smith+Tag@mail.example.org ",
            "bob.Smith+Tag@mail.example.org",
            "bob.smith+tag@mail.example.org",
        ),
        ("x@xn--bcher-kva.com", "x@bücher.com", "x@bücher.com"),
        ("Ünï@Bücher.de", "Ünï@bücher.de", "ünï@bücher.de"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_normalized_keeps_the_local_part_and_the_key_lowers_everything(value, normalized, key):
    assert emails.normalized(value, "from.email") == normalized
    assert emails.key(value, "email") == key
    assert emails.key_of(value) == key and emails.key_of(normalized) == key


def test_key_of_an_invalid_address_is_its_lower_case_text():
    assert emails.key_of(" Not An Address ") == "not an address"


@pytest.mark.parametrize(
    "value,message",
    [
        ("", "is required"),
        ("   ", "is required"),
        (None, "is required"),
        (5, "must be a string"),
        (["a@example.com"], "must be a string"),
        ("plain", "Invalid email format: "),
        ("a@b", "Invalid email format: "),
        ("a@@example.com", "Invalid email format: "),
        ("a..b@example.com", "Invalid email format: "),
        (".a@example.com", "Invalid email format: "),
        ("a@example.test", "Invalid email format: "),
        ("a@localhost", "Invalid email format: "),
        ("a@-example.com", "Invalid email format: "),
        ("a b@example.com", "Invalid email format: "),
        ("a@" + "x" * 250 + ".com", "Invalid email format: "),
    ],
)
def test_invalid_addresses_are_refused_naming_the_field(value, message):
    for check in (emails.normalized, emails.key):
        with pytest.raises(InvalidInput) as caught:
            check(value, "recipients[3].email")
        detail = caught.value.details[0]
        assert detail["field"] == "recipients[3].email" and detail["message"].startswith(message), detail
    assert emails.normalized_or_none(value) is None and emails.key_or_none(value) is None


def test_keys_are_deduplicated_in_order_and_the_first_bad_item_is_named_with_brackets():
    assert emails.keys(["B@x.org", "a@x.org", "b@X.ORG "], "emails", most=3) == ["b@x.org", "a@x.org"]
    with pytest.raises(InvalidInput) as caught:
        emails.keys(["a@x.org", "nope", "also bad"], "emails", most=10)
    assert caught.value.details[0]["field"] == "emails[1]"
    for wrong in ([], ["a@x.org"] * 4, "a@x.org", None):
        with pytest.raises(InvalidInput) as caught:
            emails.keys(wrong, "emails", most=3)
        assert caught.value.details[0] == {"field": "emails", "message": "must be an array of 1 to 3 emails"}


def test_validation_errors_from_models_use_the_same_field_paths():
    assert _field_name(("body", "recipients", 1, "email")) == "recipients[1].email"
    assert _field_name(("body", "emails", 0)) == "emails[0]"
    assert _field_name(("query", "limit")) == "limit"
    assert _field_name(("body",)) == "body"
