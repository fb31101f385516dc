"""domain/bounces.py on realistic reports: RFC 3464 DSNs (permanent, transient, success), RFC 5965
ARF complaints, a vendor-format bounce, ordinary mail, and the auto-pause thresholds."""

from __future__ import annotations

import pytest

from sendhouse.domain import bounces
from tests.support.reports import arf, dsn, vendor_bounce

TO = "bounces+0123@sendhouse.test"


def test_permanent_dsn_is_a_hard_bounce_with_status_reason_and_original_message():
    found = bounces.parse_report(dsn(to=TO, recipient="Gone@Example.com", message_id="<abc@sendhouse.test>"))
    assert found.kind == bounces.HARD and found.bounce_type == "Permanent"
    assert (found.status, found.sub_type) == ("5.1.1", "NoEmail")
    assert found.reason.startswith("550 5.1.1") and "User unknown" in found.reason
    assert found.recipients == ("gone@example.com",) and found.original_message_id == "<abc@sendhouse.test>"


def test_status_class_wins_over_the_action_field():
    # A relay that says "failed" for a 4.x.x status: the status decides (listmonk #2873's lesson).
    found = bounces.parse_report(
        dsn(
            to=TO,
            recipient="a@example.com",
            status="4.4.7",
            action="failed",
            diagnostic="smtp; 421 4.4.7 queue expired",
        )
    )
    assert found.kind == bounces.SOFT and found.bounce_type == "Transient"


@pytest.mark.parametrize(
    "status, action, kind, sub_type",
    [
        ("4.2.2", "delayed", bounces.SOFT, "MailboxFull"),
        ("5.2.2", "failed", bounces.HARD, "MailboxFull"),
        ("5.3.4", "failed", bounces.HARD, "MessageTooLarge"),
        ("4.7.1", "delayed", bounces.SOFT, "ContentRejected"),
        ("5.7.1", "failed", bounces.HARD, "General"),
    ],
)
def test_classification_and_sub_types(status, action, kind, sub_type):
    found = bounces.parse_report(
        dsn(
            to=TO,
            recipient="a@example.com",
            status=status,
            action=action,
            diagnostic=f"smtp; 5xx {status} text",
        )
    )
    assert (found.kind, found.sub_type, found.status) == (kind, sub_type, status)


def test_action_decides_when_there_is_no_status():
    raw = dsn(to=TO, recipient="a@example.com", status="", action="delayed", diagnostic="smtp; try later")
    assert bounces.parse_report(raw).kind == bounces.SOFT


def test_a_success_dsn_is_no_bounce():
    raw = dsn(to=TO, recipient="a@example.com", status="2.0.0", action="delivered", diagnostic="smtp; 250 ok")
    assert bounces.parse_report(raw) is None


@pytest.mark.parametrize(
    "feedback_type, complaint_type",
    [
        ("abuse", "abuse"),
        ("fraud", "fraud"),
        ("virus", "virus"),
        ("other", "other"),
        ("auth-failure", "other"),
    ],
)
def test_arf_reports_are_complaints(feedback_type, complaint_type):
    found = bounces.parse_report(
        arf(
            to=TO,
            recipient="Reader@Example.com",
            feedback_type=feedback_type,
            message_id="<row@sendhouse.test>",
        )
    )
    assert found.kind == bounces.COMPLAINT and found.complaint_type == complaint_type
    assert found.recipients == ("reader@example.com",) and found.original_message_id == "<row@sendhouse.test>"


def test_an_arf_not_spam_report_is_no_complaint():
    assert bounces.parse_report(arf(to=TO, recipient="a@example.com", feedback_type="not-spam")) is None


def test_vendor_bounce_found_by_flufl_with_status_from_the_text():
    found = bounces.parse_report(vendor_bounce(to=TO, recipient="lost@example.org"))
    assert (found.kind, found.status, found.recipients) == (bounces.HARD, "5.1.1", ("lost@example.org",))


@pytest.mark.parametrize(
    "raw",
    [
        b"From: friend@example.com\r\nSubject: hello\r\n\r\nJust saying hi.\r\n",
        b"Subject: out of office\r\n\r\nI am away.\r\n",  # no From: flufl's detectors trip on it
        b"",
    ],
)
def test_ordinary_mail_is_no_report(raw):
    assert bounces.parse_report(raw) is None


@pytest.mark.parametrize(
    "preset, sent, delivered, bounced, complained, pauses",
    [
        ("balanced", 99, 60, 60, 0, False),  # below the minimum sent: never
        ("balanced", 100, 97, 3, 0, False),  # exactly 3 %: not above
        ("balanced", 100, 96, 4, 0, True),
        ("conservative", 100, 97, 3, 0, True),
        ("aggressive", 100, 95, 5, 0, False),
        ("aggressive", 100, 94, 6, 0, True),
        ("balanced", 10000, 10000, 0, 7, False),  # 0.07 %: not above
        ("balanced", 10000, 10000, 0, 8, True),
        ("conservative", 10000, 10000, 0, 6, True),
        ("aggressive", 10000, 10000, 0, 10, False),
        ("unknown-preset", 100, 96, 4, 0, True),  # unknown presets act as balanced
    ],
)
def test_thresholds(preset, sent, delivered, bounced, complained, pauses):
    reason = bounces.threshold_breach(
        preset, sent=sent, delivered=delivered, bounced=bounced, complained=complained
    )
    assert (reason is not None) == pauses
    if reason:
        assert ("Bounce rate" if bounced else "Complaint rate") in reason
