"""Structured logs: one JSON object per line with the event's action and fields."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from sendhouse.delivery.base import PERMANENT, SENT, TRANSIENT, SendResult
from sendhouse.observability import configure_logging, event, log_outcomes
from sendhouse.services.sending import Outcome, plan_outcomes


@pytest.fixture
def stream():
    """configure_logging() onto a buffer, restored afterwards."""
    names = ("sendhouse", "uvicorn", "uvicorn.error")
    saved = {
        n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
        for n in names
    }
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer)
    yield buffer
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate
    logging.getLogger("uvicorn.access").disabled = False


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_an_event_is_one_json_line_with_its_action_and_fields(stream):
    event(logging.getLogger("sendhouse.scheduler"), "campaign_started", campaign_id="c1", recipients=3)
    [line] = lines(stream)
    assert line["action"] == "campaign_started" and line["message"] == "campaign_started"
    assert (line["campaign_id"], line["recipients"], line["level"]) == ("c1", 3, "info")
    assert line["logger"] == "sendhouse.scheduler"
    assert datetime.fromisoformat(line["ts"]).tzinfo == UTC


def test_plain_log_calls_get_the_generic_action_and_their_exception(stream):
    log = logging.getLogger("sendhouse.worker")
    try:
        raise ValueError("relay said no\nsecond line")
    except ValueError:
        log.exception("delivery step failed for %s", "batch-1")
    [line] = lines(stream)
    assert (line["action"], line["level"], line["message"]) == (
        "log",
        "error",
        "delivery step failed for batch-1",
    )
    assert "ValueError: relay said no" in line["exc"]


def test_hostile_field_values_stay_inside_one_line(stream):
    event(logging.getLogger("sendhouse.api"), "api_request", route='/x"\n{"action":"forged"}')
    [line] = lines(stream)
    assert line["action"] == "api_request" and line["route"] == '/x"\n{"action":"forged"}'


def test_below_the_level_nothing_is_written(stream):
    logging.getLogger("sendhouse").setLevel(logging.WARNING)
    event(logging.getLogger("sendhouse.api"), "api_request", route="/v1")
    assert stream.getvalue() == ""


def test_uvicorn_access_lines_are_replaced_by_api_request_events(stream):
    assert logging.getLogger("uvicorn.access").disabled
    logging.getLogger("uvicorn.error").warning("shutting down")
    assert lines(stream)[0]["logger"] == "uvicorn.error"


def test_every_outcome_of_a_batch_is_one_event(stream):
    rows = [
        {"id": f"r{i}", "campaign_id": "c1", "project_id": "p1", "kind": "campaign", "attempts": 0}
        for i in range(3)
    ]
    outcomes = [
        Outcome(rows[0], SendResult(SENT, 250, "ok")),
        Outcome(rows[1], SendResult(TRANSIENT, 451, "later")),
        Outcome(rows[2], SendResult(PERMANENT, 550, "no such user")),
    ]
    plan = plan_outcomes(outcomes, max_attempts=5, retry_base=60, now=datetime.now(UTC))
    log_outcomes(plan, {row["id"]: row for row in rows})
    found = {(line["action"], line["message_id"]) for line in lines(stream)}
    assert found == {
        ("message_sent", "r0"),
        ("message_deferred", "r1"),
        ("message_failed", "r2"),
        ("message_bounced", "r2"),
    }
    assert all(line["campaign_id"] == "c1" for line in lines(stream))
