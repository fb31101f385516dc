"""Contact rules: reserved names, typed custom values, CSV cells, mobiles and the upsert clearing rules."""

from __future__ import annotations

import pytest

from sendhouse.domain.contacts import (
    check_property_name,
    clean_contact,
    clean_custom_fields,
    clean_list_ids,
    csv_value,
    mobile_or_error,
    normalize_date,
    typed_value,
)
from sendhouse.errors import InvalidInput


@pytest.mark.parametrize(
    "name",
    [
        "email",
        "Email",
        "firstName",
        "first_name",
        "LASTNAME",
        "mobile",
        "unsubscribed",
        "unsubscribe_groups",
        "externalId",
        "createdAt",
        "contactLists",
        "address_line_2",
        "zip",
        "country",
    ],
)
def test_reserved_names_are_refused(name):
    with pytest.raises(InvalidInput, match="Validation failed") as caught:
        check_property_name(name)
    assert "reserved" in caught.value.details[0]["message"]


@pytest.mark.parametrize(
    "name,ok",
    [
        ("plan", True),
        ("_x", True),
        ("a-b_9", True),
        ("x" * 100, True),
        ("x" * 101, False),
        ("", False),
        ("9lives", False),
        ("a b", False),
        ("a.b", False),
        (5, False),
    ],
)
def test_property_name_shape(name, ok):
    if ok:
        assert check_property_name(name) == name
    else:
        with pytest.raises(InvalidInput):
            check_property_name(name)


@pytest.mark.parametrize(
    "kind,value,stored",
    [
        ("number", 3, 3),
        ("number", 2.5, 2.5),
        ("number", True, None),
        ("number", "3", None),
        ("number", float("nan"), None),
        ("boolean", False, False),
        ("boolean", 0, None),
        ("string", "x", "x"),
        ("string", 5, None),
        ("string", "x" * 10_001, None),
        ("date", "2024-02-29", "2024-02-29"),
        ("date", "2023-02-29", None),
        ("date", "2024-05-01T12:30:00-02:00", "2024-05-01T14:30:00.000Z"),
        ("date", "tomorrow", None),
        ("date", 20240101, None),
        (None, "free text", "free text"),
        (None, 1.5, 1.5),
        (None, True, True),
        (None, {"a": 1}, None),
        (None, [1], None),
    ],
)
def test_typed_values(kind, value, stored):
    result, problem = typed_value(kind, value)
    assert result == stored and (problem is None) == (stored is not None)


@pytest.mark.parametrize(
    "kind,text,stored",
    [
        ("number", "42", 42),
        ("number", "-1.25", -1.25),
        ("number", "1e3", 1000.0),
        ("number", "abc", None),
        ("number", "inf", None),
        ("boolean", "TRUE", True),
        ("boolean", "no", False),
        ("boolean", "0", False),
        ("boolean", "maybe", None),
        ("date", "2024-01-31", "2024-01-31"),
        ("date", "31/01/2024", None),
        ("string", "  kept as is ", "  kept as is "),
    ],
)
def test_csv_values(kind, text, stored):
    result, problem = csv_value(kind, text)
    assert result == stored and (problem is None) == (stored is not None)


def test_dates_normalise():
    assert normalize_date("20240131") == "2024-01-31"
    assert normalize_date("2024-01-31T10:00:00Z") == "2024-01-31T10:00:00.000Z"
    assert normalize_date("2024-01-31 10:00") == "2024-01-31T10:00:00.000Z"
    assert normalize_date("2024-13-01") is None


@pytest.mark.parametrize(
    "raw,number",
    [
        ("+1 (415) 555-0123", "+14155550123"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44.20.7946.0958", "+442079460958"),
        ("4155550123", None),
        ("+0123", None),
        ("+1234567890123456", None),
        ("call me", None),
    ],
)
def test_mobiles_become_e164(raw, number):
    assert mobile_or_error(raw)[0] == number


def test_upsert_rules_empty_clears_null_and_absent_keep():
    values = clean_contact(
        {"email": "A@Example.com", "firstName": "", "lastName": None, "mobile": "+15551234567"},
        {},
        upsert=True,
    )
    assert values == {
        "email": "a@example.com",
        "first_name": None,
        "mobile": "+15551234567",
        "custom_fields": {},
    }


def test_create_rules_empty_and_null_mean_no_value():
    values = clean_contact({"email": "a@example.com", "firstName": "", "lastName": None}, {}, upsert=False)
    assert values == {
        "email": "a@example.com",
        "first_name": None,
        "last_name": None,
        "user_id": None,
        "mobile": None,
        "custom_fields": {},
    }


def test_custom_fields_check_types_and_keep_null_as_removal():
    cleaned = clean_custom_fields({"age": 3, "gone": None, "note": "x"}, {"age": "number"})
    assert cleaned == {"age": 3, "gone": None, "note": "x"}
    with pytest.raises(InvalidInput) as caught:
        clean_custom_fields({"age": "3"}, {"age": "number"})
    assert caught.value.details == [{"field": "customFields.age", "message": "must be a number"}]
    with pytest.raises(InvalidInput):
        clean_custom_fields({f"k{i}": 1 for i in range(101)}, {})
    assert len(clean_custom_fields({f"k{i}": 1 for i in range(100)}, {})) == 100


def test_list_ids_are_deduplicated_and_bounded():
    assert clean_list_ids(["a", "b", "a"]) == ["a", "b"]
    assert clean_list_ids(None) == []
    assert len(clean_list_ids([f"l{i}" for i in range(100)])) == 100
    for bad in ([f"l{i}" for i in range(101)], "a", [1]):
        with pytest.raises(InvalidInput):
            clean_list_ids(bad)
