"""Campaign rules without a database: field limits, scheduling times, metrics and rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendhouse.domain import campaigns as rules
from sendhouse.errors import InvalidInput

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def fields_of(problems: list[dict]) -> list[str]:
    return [p["field"] for p in problems]


@pytest.mark.parametrize("field,limit", [("name", 200), ("subject", 998), ("previewText", 200)])
def test_length_limits_at_and_beyond(field, limit):
    assert rules.check_fields({field: "x" * limit}) == []
    assert fields_of(rules.check_fields({field: "x" * (limit + 1)})) == [field]


def test_from_name_limit_and_email_format():
    assert rules.check_fields({"from": {"email": "a@example.com", "name": "n" * 200}}) == []
    assert fields_of(rules.check_fields({"from": {"email": "a@example.com", "name": "n" * 201}})) == [
        "from.name"
    ]
    assert fields_of(rules.check_fields({"from": {"email": "not-an-address"}})) == ["from.email"]
    assert fields_of(rules.check_fields({"replyTo": "also@bad@"})) == ["replyTo"]


def test_blank_name_is_required_and_every_problem_is_listed():
    found = rules.check_fields(
        {
            "name": "  ",
            "sendMode": "later",
            "gradualStrategy": "3x",
            "dailyBatchSize": 0,
            "timezone": "Mars/Olympus",
            "scheduledAt": "tomorrow",
        }
    )
    assert fields_of(found) == [
        "name",
        "sendMode",
        "gradualStrategy",
        "dailyBatchSize",
        "timezone",
        "scheduledAt",
    ]


def test_create_needs_template_or_html():
    with pytest.raises(InvalidInput) as caught:
        rules.check_create({"name": "n", "subject": "s"})
    assert fields_of(caught.value.details) == ["templateId"]
    rules.check_create({"name": "n", "subject": "s", "htmlTemplate": "<p>hi</p>"})


def test_timezones_are_real_iana_zones():
    assert rules.is_timezone("America/New_York") and rules.is_timezone("UTC")
    assert not rules.is_timezone("America/Nowhere") and not rules.is_timezone("../etc/passwd")


def test_columns_normalize_and_drop_nulls_of_required_flags():
    columns = rules.to_columns(
        {
            "from": {"email": "Ann@Example.com", "name": "Ann"},
            "toLists": ["a", "a", "b"],
            "scheduledAt": "2026-05-02T09:00:00+02:00",
            "sendNow": None,
            "previewText": None,
        }
    )
    assert columns["from_email"] == "Ann@example.com" and columns["to_lists"] == ["a", "b"]
    assert columns["scheduled_at"] == datetime(2026, 5, 2, 7, 0, tzinfo=UTC)
    assert "send_now" not in columns and columns["preview_text"] is None


def test_create_mode_defaults():
    assert rules.create_mode({}) == "immediate"
    assert rules.create_mode({"scheduledAt": "2026-05-02T00:00:00Z"}) == "scheduled"
    assert rules.create_mode({"sendMode": "gradual", "scheduledAt": "2026-05-02T00:00:00Z"}) == "gradual"


def test_gradual_combination_rules():
    base = {**rules.DEFAULTS, "send_mode": "gradual", "html_template": "<p>x</p>"}
    with pytest.raises(InvalidInput) as caught:
        rules.check_combination(base)
    assert fields_of(caught.value.details) == ["gradualStrategy"]
    rules.check_combination({**base, "gradual_strategy": "1.5x", "daily_batch_size": 10})
    with pytest.raises(InvalidInput) as caught:
        rules.check_combination({**rules.DEFAULTS, "daily_batch_size": 10, "gradual_strategy": "2x"})
    assert fields_of(caught.value.details) == ["gradualStrategy", "dailyBatchSize", "templateId"]


def test_scheduling_needs_sender_recipients_content():
    with pytest.raises(InvalidInput) as caught:
        rules.check_schedulable(dict(rules.DEFAULTS))
    assert fields_of(caught.value.details) == ["from", "toLists", "templateId"]
    ready = {
        **rules.DEFAULTS,
        "from_email": "a@example.com",
        "send_to_global_list": True,
        "html_template": "x",
    }
    rules.check_schedulable(ready)
    with pytest.raises(InvalidInput):
        rules.check_schedulable({**ready, "send_mode": "gradual", "gradual_strategy": "fixed"})


def test_start_time_keeps_the_abort_window():
    delay = 120
    assert rules.start_time(None, send_now=True, now=NOW, delay_seconds=delay) == NOW + timedelta(seconds=120)
    soon = NOW + timedelta(seconds=30)
    assert rules.start_time(soon, send_now=False, now=NOW, delay_seconds=delay) == NOW + timedelta(
        seconds=120
    )
    later = NOW + timedelta(days=1)
    assert rules.start_time(later, send_now=False, now=NOW, delay_seconds=delay) == later
    assert rules.start_time(later, send_now=True, now=NOW, delay_seconds=delay) == NOW + timedelta(
        seconds=120
    )


def test_copy_name_stays_within_limit():
    assert rules.copy_name("Launch") == "Copy of Launch"
    assert len(rules.copy_name("x" * 200)) == 200


def test_metrics_and_analytics_from_ledger_counts():
    campaign = {
        **rules.DEFAULTS,
        "status": "sent",
        "total_contacts": 10,
        "suppressed_count": 1,
        "started_at": NOW,
        "sent_at": NOW + timedelta(seconds=4),
    }
    counts = {"sent": 6, "bounced": 2, "failed": 1, "suppressed": 0}
    found = rules.metrics(campaign, counts)
    assert (found["sent"], found["delivered"], found["bounced"], found["failedCount"]) == (8, 6, 2, 1)
    assert found["processedCount"] == 9 and found["suppressed"] == 1 and found["averageRatePerSecond"] == 2.0
    c = rules.analytics_counts(campaign, found)
    assert c["attempted"] == 8
    r = rules.analytics_rates(c)
    assert (r["bounceRate"], r["deliveryRate"], r["successRate"], r["openRate"]) == (25.0, 75.0, 100.0, 0.0)


def test_rate_rounds_to_two_places_and_zero_base():
    assert rules.rate(1, 3) == 33.33
    assert rules.rate(5, 0) == 0.0
