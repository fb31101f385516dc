"""SMTP PIPELINING (RFC 2920) against aiosmtpd relays with and without PIPELINING offered: the same
messages arrive byte for byte identical either way; a pipelined group with one RCPT TO refused
among several, or with all refused, is answered in order and leaves the connection reusable; the
same over STARTTLS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sendhouse.delivery.base import PERMANENT, RCPT, SENT
from sendhouse.delivery.smtp import SmtpTransport
from sendhouse.domain.ids import new_id
from sendhouse.domain.mime import LinkSettings, MessageSpec, OutgoingMessage, Recipient, compile_skeleton
from tests.support.scripted_smtp import ScriptedSmtp, self_signed_certificate

LINKS = LinkSettings(
    public_url="http://127.0.0.1:8080", bounce_domain="bounce.example.com", secret="pipe-test"
)
PEOPLE = [
    ("Ann Lee", "ann@example.org"),
    ("Zoë Ōtsuka", "zoe@example.net"),
    ("Kunde", "kunde@bücher.example"),
    ("Dot", "dot@example.com"),
]


def _messages() -> list[OutgoingMessage]:
    spec = MessageSpec(
        project_id=new_id(),
        kind="campaign",
        from_email="news@example.com",
        from_name="Nöws Désk",
        reply_to="help@example.com",
        subject="{{first_name}}, 20 % off",
        text=None,
        preview_text="Sale",
        html="<html><body><p>Hello {{first_name}}</p>\n.\n<p>.leading dot</p>"
        + "<p>"
        + "long line " * 300
        + '</p><a href="https://shop.example.com/?a=1&amp;b=2">Shop</a></body></html>',
        headers={"X-Campaign": "sale"},
        tracking_open=True,
        tracking_click=True,
        unsubscribe_group="SALE01",
        campaign_id=new_id(),
    )
    skeleton = compile_skeleton(spec, LINKS)
    built = []
    for name, email in PEOPLE:
        row = new_id()
        person = Recipient(row, f"<{row}@example.com>", email, name, {"first_name": name.split()[0]})
        built.append(skeleton.render(person, now=datetime(2026, 12, 5, tzinfo=UTC)))
    raw = OutgoingMessage("bounce@example.com", ("raw@example.org",), b".first\n..second\r\nlast", "<raw@x>")
    return [*built, raw]


async def _deliver_all(relay: ScriptedSmtp, messages: list[OutgoingMessage]) -> list:
    transport = SmtpTransport(relay.url(), connections=2)
    try:
        return [await transport.send(msg) for msg in messages]
    finally:
        await transport.close()


async def test_pipelined_and_unpipelined_deliveries_are_byte_identical():
    messages = _messages()
    with ScriptedSmtp(pipelining=False) as plain, ScriptedSmtp(pipelining=True) as piped:
        results = [await _deliver_all(plain, messages), await _deliver_all(piped, messages)]
    assert [r.outcome for r in results[0]] == [r.outcome for r in results[1]] == [SENT] * len(messages)
    assert plain.kept == piped.kept and len(plain.kept) == len(messages)
    assert plain.handler.pipelined == [False] * len(messages) and piped.handler.pipelined == [True] * len(
        messages
    )
    assert piped.kept[2].rcpt_to == ["kunde@xn--bcher-kva.example"]
    assert piped.kept[-1].data == b".first\r\n..second\r\nlast\r\n"


@pytest.mark.parametrize("pipelining", [False, True])
async def test_one_refused_recipient_among_several(pipelining):
    msg = OutgoingMessage(
        "bounce@example.com", ("a@example.org", "b@example.org", "c@example.org"), b"Hi\r\n", "<m>"
    )
    with ScriptedSmtp(pipelining=pipelining) as relay:
        relay.script_rcpt("", "550 5.1.1 no such user", "")
        transport = SmtpTransport(relay.url(), connections=1)
        try:
            result = await transport.send(msg)
            after = await transport.send(replace(msg, rcpt_to=("d@example.org",)))
        finally:
            await transport.close()
    assert (result.outcome, result.code, result.stage) == (PERMANENT, 550, RCPT)
    assert [k.rcpt_to for k in relay.kept] == [["a@example.org", "c@example.org"], ["d@example.org"]]
    assert after.outcome == SENT and relay.lines.count("250-relay.test") == 1
    assert relay.handler.pipelined == [pipelining, pipelining]


@pytest.mark.parametrize("pipelining", [False, True])
async def test_every_recipient_refused_then_the_connection_is_reused(pipelining):
    msg = OutgoingMessage("bounce@example.com", ("a@example.org", "b@example.org"), b"Hi\r\n", "<m>")
    with ScriptedSmtp(pipelining=pipelining) as relay:
        relay.script_rcpt("550 5.1.1 no such user", "551 5.1.6 moved")
        transport = SmtpTransport(relay.url(), connections=1)
        try:
            result = await transport.send(msg)
            after = await transport.send(replace(msg, rcpt_to=("d@example.org",)))
        finally:
            await transport.close()
    assert (result.outcome, result.code) == (PERMANENT, 550)
    assert after.outcome == SENT and [k.rcpt_to for k in relay.kept] == [["d@example.org"]]
    assert relay.lines.count("250-relay.test") == 1 and relay.nested_mail_errors() == 0


async def test_pipelining_can_be_turned_off_in_the_url():
    with ScriptedSmtp(pipelining=True) as relay:
        transport = SmtpTransport(relay.url() + "&pipelining=false", connections=1)
        try:
            assert (await transport.send(_messages()[0])).outcome == SENT
        finally:
            await transport.close()
    assert relay.handler.pipelined == [False]


@pytest.mark.parametrize("pipelining", [False, True])
async def test_over_starttls(tmp_path, monkeypatch, pipelining):
    """The wire stands in for aiosmtplib's protocol on a TLS transport too (relay certificate trusted
    through SSL_CERT_FILE)."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    messages = _messages()
    with ScriptedSmtp(pipelining=pipelining, tls=(cert, key)) as relay:
        relay.script_rcpt("", "550 5.1.1 no such user")
        transport = SmtpTransport(relay.url() + "&starttls=true", connections=1)
        try:
            results = [await transport.send(msg) for msg in messages]
        finally:
            await transport.close()
    assert [r.outcome for r in results] == [SENT, PERMANENT, SENT, SENT, SENT]
    assert len(relay.kept) == 4 and relay.lines.count("250-relay.test") == 2  # EHLO before and after STARTTLS
    assert relay.handler.pipelined == [pipelining] * 5
