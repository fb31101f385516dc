"""filterCriteria validation and date meaning (domain/segments.py), without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendhouse.domain.segments import OPERATORS, date_interval, validate_criteria
from sendhouse.errors import InvalidInput

VALUES = {"string": "x", "number": 3, "boolean": True, "date": "2024-05-01"}


def one(field="plan", field_type="string", operator="equals", value="x") -> dict:
    return {"groups": [{"field": field, "fieldType": field_type, "operator": operator, "value": value}]}


@pytest.mark.parametrize("field_type,operator", [(t, o) for t, ops in OPERATORS.items() for o in ops])
def test_every_operator_of_every_type_is_accepted(field_type, operator):
    value = [VALUES[field_type], VALUES[field_type]] if operator == "between" else VALUES[field_type]
    criteria = validate_criteria(one("custom", field_type, operator, value))
    assert criteria["logicalOperator"] == "AND"
    expected = None if operator in ("is_empty", "is_not_empty") else value
    assert criteria["groups"][0] == {
        "field": "custom",
        "fieldType": field_type,
        "operator": operator,
        "value": expected,
    }


def _field_of_error(raw) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate_criteria(raw)
    return caught.value.details[0]["field"]


@pytest.mark.parametrize(
    "raw,field",
    [
        ("plan", "filterCriteria"),
        ({"logicalOperator": "XOR", "groups": one()["groups"]}, "filterCriteria.logicalOperator"),
        ({"groups": []}, "filterCriteria.groups"),
        ({"groups": one()["groups"] * 51}, "filterCriteria.groups"),
        ({"groups": ["x"]}, "filterCriteria.groups[0]"),
        (one(field=""), "filterCriteria.groups[0].field"),
        (one(field='a"b'), "filterCriteria.groups[0].field"),
        (one(field="x" * 101), "filterCriteria.groups[0].field"),
        (one(field_type="text"), "filterCriteria.groups[0].fieldType"),
        (one(field="email", field_type="number", value=1), "filterCriteria.groups[0].fieldType"),
        (one(field="createdAt", field_type="string"), "filterCriteria.groups[0].fieldType"),
        (one(operator="greater_than"), "filterCriteria.groups[0].operator"),
        (one(field_type="boolean", operator="contains", value=True), "filterCriteria.groups[0].operator"),
        (one(field_type="number", operator="is_empty", value=None), "filterCriteria.groups[0].operator"),
        (one(value=5), "filterCriteria.groups[0].value"),
        (one(value="x" * 501), "filterCriteria.groups[0].value"),
        (one(field_type="number", value="5"), "filterCriteria.groups[0].value"),
        (one(field_type="number", value=True), "filterCriteria.groups[0].value"),
        (one(field_type="boolean", value="true"), "filterCriteria.groups[0].value"),
        (one(field_type="date", value="yesterday"), "filterCriteria.groups[0].value"),
        (one(field_type="date", value="2023-02-29"), "filterCriteria.groups[0].value"),
        (one(field_type="number", operator="between", value=[1]), "filterCriteria.groups[0].value"),
        (one(field_type="number", operator="between", value=[5, 1]), "filterCriteria.groups[0].value"),
        (
            one(field_type="date", operator="between", value=["2024-02-01", "2024-01-01"]),
            "filterCriteria.groups[0].value",
        ),
    ],
)
def test_bad_criteria_name_the_field(raw, field):
    assert _field_of_error(raw) == field


def test_second_condition_is_named_and_or_kept():
    raw = {"logicalOperator": "OR", "groups": one()["groups"] + one(operator="nope")["groups"]}
    assert _field_of_error(raw) == "filterCriteria.groups[1].operator"
    ok = validate_criteria({"logicalOperator": "OR", "groups": one()["groups"] * 50})
    assert ok["logicalOperator"] == "OR" and len(ok["groups"]) == 50


def test_date_values_stand_for_a_day_or_a_millisecond():
    day = date_interval("2024-05-01")
    assert day == (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    start, end = date_interval("2024-05-01T12:00:00.123456+02:00")
    assert start == datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert (end - start).total_seconds() == 0.001
    assert date_interval("2024-05-01T10:00:00Z")[0] == datetime(2024, 5, 1, 10, tzinfo=UTC)
