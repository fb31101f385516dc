"""domain/inbound_mail parses a single-part message's header block alone and sets its body, and reads
one plain mailbox with a pattern: the message and the mailboxes must be what BytesParser
(policy.default) and getaddresses give, for well-formed and malformed messages alike."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from email.utils import getaddresses

from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.domain.inbound_mail import _message, mailboxes
from tests.support.inbound_data import message

HEADER = st.sampled_from(
    [
        "From: App <app@shop.example.com>",
        "To: a@example.org, B <b@example.org>",
        "Subject: hello\r\n folded",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: text/html",
        "Content-Type: multipart/alternative; boundary=XX",
        "Content-Type: multipart/mixed",
        "Content-Type: message/rfc822",
        "Content-Transfer-Encoding: base64",
        "no colon here",
        " leading space",
        "X-Bytes: caf\xe9",
    ]
)
BODY = st.lists(
    st.sampled_from(["line", "", "--XX", "--XX--", "Subject: inner", "\xe9t\xe9", "a\rb", "c\nd"]),
    max_size=8,
)
NEWLINE = st.sampled_from(["\r\n", "\n", "\r"])


def full(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def parts(message) -> list[tuple]:
    """Every part's raw headers, defects and (single-part) payload, in walk order."""
    return [
        (
            list(part.raw_items()),
            [type(defect) for defect in part.defects],
            None if part.is_multipart() else part.get_payload(),
        )
        for part in message.walk()
    ]


def same(raw: bytes) -> None:
    assert parts(_message(raw)) == parts(full(raw))


@settings(max_examples=400, deadline=None)
@given(headers=st.lists(HEADER, max_size=6), body=BODY, newline=NEWLINE, blank=NEWLINE)
def test_messages_read_as_the_parser_reads_them(headers, body, newline, blank):
    raw = (newline.join(headers) + newline + blank + "\r\n".join(body)).encode("latin-1")
    same(raw)


def test_generated_messages_with_parts_read_as_the_parser_reads_them():
    for raw in (
        message(sender="a@shop.example.com", to="b@example.org", text="Hi\n.\nthere\n"),
        message(sender="a@shop.example.com", to="b@example.org", html="<p>x</p>"),
        message(
            sender="a@shop.example.com",
            to="b@example.org",
            attachments=(("a.bin", "application/octet-stream", bytes(range(256))),),
        ),
        b"Subject: only headers\r\n",
        b"Subject: x\r\n\r\n",
    ):
        same(raw)


NAME = st.from_regex(r"[A-Za-z0-9]{1,6}( [A-Za-z0-9]{1,6}){0,2}", fullmatch=True)
ADDRESS = st.from_regex(
    r"[a-zA-Z0-9_+-]{1,6}(\.[a-z0-9]{1,4})?@[a-z0-9-]{1,10}(\.[a-z]{2,4}){0,2}", fullmatch=True
)
ODD = st.text(alphabet='aZ9 <>@.,;:"()_+-\\', max_size=30)


@settings(max_examples=500, deadline=None)
@given(name=NAME, address=ADDRESS, odd=ODD, form=st.integers(0, 3))
def test_mailboxes_are_what_getaddresses_gives(name, address, odd, form):
    value = [address, f"{name} <{address}>", odd, f"{name} <{odd}>"][form]
    expected = [{"email": e, "name": n or None} for n, e in getaddresses([value]) if "@" in e]
    assert mailboxes([value]) == expected
    assert mailboxes([]) == []
