"""Pure rules of events and automations: value coercion, the step graph, filter evaluation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendhouse.domain import automations as rules
from sendhouse.domain import events
from sendhouse.errors import InvalidInput, InvalidOperation


@pytest.mark.parametrize(
    "kind,value,expected",
    [
        ("number", "12", 12),
        ("number", "12.5", 12.5),
        ("number", 3, 3),
        ("number", "1e3", 1000.0),
        ("boolean", "TRUE", True),
        ("boolean", "0", False),
        ("boolean", 1, True),
        ("string", 5, "5"),
        ("string", True, "true"),
        ("date", "2026-01-02", "2026-01-02T00:00:00.000Z"),
        ("date", "2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05.000Z"),
    ],
)
def test_coerce(kind, value, expected):
    assert events.coerce(kind, value) == expected


@pytest.mark.parametrize(
    "kind,value",
    [
        ("number", "ten"),
        ("number", True),
        ("number", "nan"),
        ("number", "inf"),
        ("boolean", "yes"),
        ("boolean", 2),
        ("date", "tomorrow"),
        ("date", 5),
        ("string", None),
        ("string", [1]),
    ],
)
def test_coerce_refuses(kind, value):
    with pytest.raises((TypeError, ValueError)):
        events.coerce(kind, value)


def test_sent_values_are_checked_against_the_schema():
    schema = [{"propertyName": "total", "type": "number"}]
    assert events.coerce_sent("paid", schema, {"total": "3"}) == {"total": 3}
    with pytest.raises(InvalidOperation) as unknown:
        events.coerce_sent("paid", schema, {"color": "red"})
    assert unknown.value.code == "UNKNOWN_PROPERTY" and "paid" in unknown.value.message
    with pytest.raises(InvalidOperation) as bad:
        events.coerce_sent("paid", schema, {"total": "lots"})
    assert bad.value.message == 'Property "total" must be a number'


def test_linear_steps_are_linked_in_order():
    steps = rules.check_steps(
        [
            {"type": "wait", "stepId": "a", "delay": {"value": 1, "unit": "hours"}},
            {"type": "email", "stepId": "b", "email": {"templateId": "A-1"}},
        ]
    )
    assert steps[0]["nextStepId"] == "b" and "nextStepId" not in steps[1]
    assert rules.delay_of(steps[0]).total_seconds() == 3600


def test_duplicate_step_ids_are_refused():
    with pytest.raises(InvalidInput):
        rules.check_steps(
            [
                {"type": "wait", "stepId": "a", "delay": {"value": 0, "unit": "mins"}},
                {"type": "email", "stepId": "a", "email": {"templateId": "A-1"}},
            ]
        )


CONTACT = {
    "email": "ann@example.com",
    "first_name": "Ann",
    "last_name": None,
    "user_id": None,
    "mobile": None,
    "custom_fields": {"plan": "pro", "age": 41, "vip": True, "since": "2024-05-01"},
    "created_at": datetime(2026, 1, 2, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 2, tzinfo=UTC),
}


def _one(field, field_type, operator, value=None):
    return rules.check_filter(
        {"groups": [{"field": field, "fieldType": field_type, "operator": operator, "value": value}]}, "f"
    )


@pytest.mark.parametrize(
    "criteria,expected",
    [
        (_one("plan", "string", "equals", "pro"), True),
        (_one("customFields.plan", "string", "starts_with", "p"), True),
        (_one("plan", "string", "not_equals", "pro"), False),
        (_one("missing", "string", "not_equals", "x"), True),
        (_one("missing", "string", "is_empty"), True),
        (_one("age", "number", "between", [40, 50]), True),
        (_one("age", "number", "greater_than", 41), False),
        (_one("vip", "boolean", "equals", True), True),
        (_one("since", "date", "after", "2024-01-01"), True),
        (_one("createdAt", "date", "equals", "2026-01-02"), True),
        (_one("email", "string", "ends_with", "@example.com"), True),
        (_one("event.properties.total", "number", "greater_than", 10), True),
        (_one("event.name", "string", "equals", "paid"), True),
    ],
)
def test_filters_over_contact_and_event(criteria, expected):
    facts = rules.facts(CONTACT, {"name": "paid", "properties": {"total": 12}})
    assert rules.matches(criteria, facts) is expected


def test_or_and_no_criteria():
    either = rules.check_filter(
        {
            "logicalOperator": "OR",
            "groups": [
                {"field": "plan", "fieldType": "string", "operator": "equals", "value": "free"},
                {"field": "age", "fieldType": "number", "operator": "less_than", "value": 50},
            ],
        },
        "f",
    )
    assert rules.matches(either, rules.facts(CONTACT, None)) is True
    assert rules.matches(None, {}) is True


def _step_refused(steps: list[dict]) -> tuple[str, list[dict]]:
    with pytest.raises(InvalidOperation) as refused:
        rules.check_steps(steps)
    return refused.value.code, refused.value.details


WAIT = {"type": "wait", "delay": {"value": 0, "unit": "mins"}}
MAIL = {"type": "email", "email": {"templateId": "A-1"}}


def test_step_errors_name_the_step_they_are_about():
    after_wait = [{"field": "steps[0]", "message": "an email must come directly after a wait step"}]
    assert _step_refused([MAIL, WAIT]) == ("INVALID_STEP_SEQUENCE", after_wait)
    code, details = _step_refused([WAIT, MAIL, MAIL])
    assert code == "INVALID_STEP_SEQUENCE" and details[0]["field"] == "steps[2]"
    assert _step_refused([WAIT, MAIL, WAIT])[1] == [
        {"field": "steps[2]", "message": "a wait must be followed by an email step"}
    ]
    assert _step_refused([WAIT, {"type": "email", "email": {}}]) == (
        "EMAIL_TEMPLATE_REQUIRED",
        [{"field": "steps[1].email", "message": "choose a template (or give HTML and a subject)"}],
    )
    assert _step_refused([WAIT, {"type": "branch", "stepId": "b"}])[1][0]["field"] == "steps[1].branches"
    code, details = _step_refused(
        [{**WAIT, "stepId": "w", "nextStepId": "gone"}, {"type": "branch", "branches": [{}]}]
    )
    assert (
        code == "INVALID_STEP_SEQUENCE"
        and details[0]["field"] == "steps[0]"
        and "gone" in details[0]["message"]
    )
