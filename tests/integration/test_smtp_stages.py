"""SMTP replies classified by stage, against a scripted aiosmtpd relay on 127.0.0.1.

Only a 5xx to RCPT TO (or to DATA with one recipient) is a hard bounce. A refused MAIL FROM,
protocol (5.5.x / 503) and authentication (530/535) errors, 421, a relay that hangs up in the
middle of DATA and a local exception are relay failures: transient, the connection closed. After
each of them the next message on the same one-connection pool goes through cleanly (the relay
never answers `503 nested MAIL`). Every test runs against a relay without and with PIPELINING
(RFC 2920: MAIL FROM, RCPT TO and DATA in one write). Internationalised addresses: SMTPUTF8 when offered, else an
IDNA domain; a non-ASCII local part without SMTPUTF8 fails that one message without a code."""

from __future__ import annotations

import pytest

from sendhouse.delivery.base import CONNECT, DATA, LOCAL, MAIL, PERMANENT, RCPT, SENT, TRANSIENT
from sendhouse.delivery.smtp import SmtpTransport
from sendhouse.domain.mime import OutgoingMessage
from tests.support.scripted_smtp import ScriptedSmtp

SENDER = "bounce+abc@bounce.example.com"


def message(rcpt: str = "ann@example.org", n: int = 0, sender: str = SENDER) -> OutgoingMessage:
    data = (f"Message-ID: <m{n}@example.com>\r\nSubject: test {n}\r\n\r\nHello {n}\r\n.dot line\r\n").encode()
    return OutgoingMessage(sender, (rcpt,), data, f"<m{n}@example.com>")


class BadBytes:
    """A message whose bytes cannot be produced: a local exception after MAIL FROM and RCPT TO."""

    mail_from, rcpt_to, message_id_header = SENDER, ("ann@example.org",), "<bad@example.com>"

    @property
    def data(self) -> bytes:
        return "Zoë".encode("ascii")


async def _then_clean(relay: ScriptedSmtp, transport: SmtpTransport, n: int = 99) -> None:
    """The next message on the pool is delivered, and the relay never saw a nested MAIL."""
    result = await transport.send(message("next@example.org", n))
    assert (result.outcome, result.code) == (SENT, 250)
    assert relay.kept[-1].rcpt_to == ["next@example.org"]
    assert relay.nested_mail_errors() == 0
    assert relay.handler.pipelined[-1] == relay.handler.pipelining  # RCPT TO and DATA came with MAIL FROM


@pytest.fixture(params=[False, True], ids=["unpipelined", "pipelined"])
async def relay(request):
    with ScriptedSmtp(pipelining=request.param) as server:
        yield server


@pytest.fixture
async def transport(relay):
    pool = SmtpTransport(relay.url(), connections=1)
    yield pool
    await pool.close()


@pytest.mark.parametrize(
    "reply",
    [
        "530 5.7.0 Authentication required",
        "550 5.7.1 sender refused",
        "451 4.3.0 try later",
        "421 4.3.2 closing",
    ],
)
async def test_mail_from_refusal_is_a_relay_failure(relay, transport, reply):
    await transport.send(message(n=1))  # a connection is open and has carried a message
    relay.script_mail(reply)
    result = await transport.send(message("bob@example.org", 2))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        TRANSIENT,
        int(reply[:3]),
        MAIL,
        True,
    )
    assert "bob@example.org" not in relay.handler.rcpts
    await _then_clean(relay, transport)
    assert relay.lines.count("250-relay.test") == 2  # the failed connection was closed, a new one opened


@pytest.mark.parametrize(
    "reply",
    [
        "503 5.5.1 Error: need MAIL command",
        "501 5.5.4 Syntax error",
        "530 5.7.0 Authentication required",
        "421 4.3.2 shutting down",
    ],
)
async def test_protocol_auth_and_closing_replies_to_rcpt_are_relay_failures(relay, transport, reply):
    relay.script_rcpt(reply)
    result = await transport.send(message("bob@example.org", 1))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        TRANSIENT,
        int(reply[:3]),
        RCPT,
        True,
    )
    await _then_clean(relay, transport)
    assert relay.lines.count("250-relay.test") == 2


async def test_5xx_to_rcpt_is_a_hard_bounce_and_the_connection_is_reset_and_kept(relay, transport):
    relay.script_rcpt("550 5.1.1 no such user")
    result = await transport.send(message("gone@example.org", 1))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        PERMANENT,
        550,
        RCPT,
        False,
    )
    assert result.hard_bounce
    await _then_clean(relay, transport)
    assert relay.lines.count("250-relay.test") == 1  # one EHLO: the same connection throughout


async def test_4xx_to_rcpt_is_transient_for_that_recipient(relay, transport):
    relay.script_rcpt("450 4.2.1 mailbox busy")
    result = await transport.send(message("busy@example.org", 1))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        TRANSIENT,
        450,
        RCPT,
        False,
    )
    await _then_clean(relay, transport)


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("554 5.7.1 message refused", PERMANENT),
        ("452 4.3.1 queue full", TRANSIENT),
        ("503 5.5.1 bad sequence", TRANSIENT),
    ],
)
async def test_data_replies_with_one_recipient(relay, transport, reply, outcome):
    relay.script_data(reply)
    result = await transport.send(message(n=1))
    assert (result.outcome, result.code, result.stage) == (outcome, int(reply[:3]), DATA)
    assert result.hard_bounce == (outcome == PERMANENT)
    assert result.connection_error == reply.startswith("503")
    await _then_clean(relay, transport)


async def test_relay_that_hangs_up_in_the_middle_of_data(relay, transport):
    relay.cut_next_data()
    result = await transport.send(message(n=1))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        TRANSIENT,
        None,
        DATA,
        True,
    )
    assert relay.kept == []
    await _then_clean(relay, transport)


async def test_unanswered_mail_from_times_out_and_the_connection_is_closed(relay):
    transport = SmtpTransport(relay.url(timeout=0.5), connections=1)
    try:
        relay.script_mail("stall")
        result = await transport.send(message(n=1))
        assert (result.outcome, result.code, result.stage, result.connection_error) == (
            TRANSIENT,
            None,
            MAIL,
            True,
        )
        assert "Timed out" in result.response
        await _then_clean(relay, transport)
    finally:
        await transport.close()
    assert relay.lines.count("250-relay.test") == 2


async def test_local_exception_mid_transaction_closes_the_connection(relay, transport):
    await transport.send(message(n=1))
    result = await transport.send(BadBytes())
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        TRANSIENT,
        None,
        LOCAL,
        True,
    )
    assert "UnicodeEncodeError" in result.response
    await _then_clean(relay, transport)
    assert len(relay.kept) == 2


async def test_failed_authentication_is_a_connection_failure():
    with ScriptedSmtp(auth=True) as relay:
        wrong = SmtpTransport(relay.url("user:wrong@"), connections=1)
        right = SmtpTransport(relay.url("user:secret@"), connections=1)
        try:
            result = await wrong.send(message(n=1))
            assert (result.outcome, result.code, result.stage, result.connection_error) == (
                TRANSIENT,
                535,
                CONNECT,
                True,
            )
            assert relay.handler.mails == []
            assert (await right.send(message(n=2))).outcome == SENT
        finally:
            await wrong.close()
            await right.close()


async def test_tls_that_cannot_be_started_is_a_connection_failure(relay):
    transport = SmtpTransport(relay.url() + "&starttls=true", connections=1)  # the relay offers no STARTTLS
    try:
        result = await transport.send(message(n=1))
    finally:
        await transport.close()
    assert (result.outcome, result.stage, result.connection_error) == (TRANSIENT, CONNECT, True)
    assert "STARTTLS" in result.response and relay.handler.mails == []


async def test_idn_domain_is_idna_encoded_without_smtputf8(relay, transport):
    result = await transport.send(message("kunde@bücher.example", 1))
    assert result.outcome == SENT
    kept = relay.kept[-1]
    assert kept.rcpt_to == ["kunde@xn--bcher-kva.example"] and "SMTPUTF8" not in kept.mail_options
    await _then_clean(relay, transport)


async def test_idn_address_goes_out_in_utf8_with_smtputf8():
    with ScriptedSmtp(smtputf8=True) as relay:
        transport = SmtpTransport(relay.url(), connections=1)
        try:
            assert (await transport.send(message("kunde@bücher.example", 1))).outcome == SENT
            assert (await transport.send(message("jürgen@bücher.example", 2))).outcome == SENT
            await _then_clean(relay, transport)
        finally:
            await transport.close()
    first, second, plain = relay.kept
    assert first.rcpt_to == ["kunde@bücher.example"] and "SMTPUTF8" in first.mail_options
    assert second.rcpt_to == ["jürgen@bücher.example"]
    assert "SMTPUTF8" not in plain.mail_options  # only when an address needs it


async def test_non_ascii_local_part_without_smtputf8_fails_that_message_only(relay, transport):
    await transport.send(message(n=1))
    result = await transport.send(message("jürgen@example.com", 2))
    assert (result.outcome, result.code, result.stage, result.connection_error) == (
        PERMANENT,
        None,
        LOCAL,
        False,
    )
    assert not result.hard_bounce and "SMTPUTF8" in result.response
    assert len(relay.handler.mails) == 1  # no MAIL FROM was written for it
    await _then_clean(relay, transport)


async def test_gate_is_entered_before_mail_from_and_left_after_its_reply(relay, transport):
    events = []

    class Gate:
        async def enter(self):
            events.append(("enter", len(relay.handler.mails)))
            return True

        def leave(self):
            events.append(("leave", len(relay.handler.mails)))

    relay.script_mail("530 5.7.0 Authentication required")
    await transport.send(message(n=1), gate=Gate())
    await transport.send(message(n=2), gate=Gate())
    assert events == [("enter", 0), ("leave", 1), ("enter", 1), ("leave", 2)]
