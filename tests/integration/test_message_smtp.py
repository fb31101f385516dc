"""Built messages through a real, strict SMTP server (aiosmtpd in-process): they arrive byte for byte."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import replace
from datetime import UTC, datetime

import aiosmtplib
import dkim
import pytest
from aiosmtpd.controller import Controller

from sendhouse.delivery.dkim import DkimSigner, dkim_dns_value, generate_dkim_keypair
from sendhouse.domain.ids import new_id
from sendhouse.domain.mime import LinkSettings, MessageSpec, Recipient, compile_skeleton

LINKS = LinkSettings(
    public_url="http://127.0.0.1:8080", bounce_domain="bounce.example.com", secret="smtp-test"
)


class Recorder:
    """Keeps every envelope the server accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    # Strict: no SMTPUTF8, 8-bit data refused as text, line length enforced by aiosmtpd (1001 max).
    controller = Controller(
        recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False, decode_data=False
    )
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def campaign_spec(**overrides) -> MessageSpec:
    base = MessageSpec(
        project_id=new_id(),
        kind="campaign",
        from_email="news@example.com",
        from_name="Nöws Désk",
        reply_to="help@example.com",
        subject="{{first_name | 'Hi'}}, the sale starts — 20 % off",
        html="<html><body><p>Hello {{first_name}}</p>\n.\n<p>.leading dot</p>"
        '<a href="https://shop.example.com/?a=1&amp;b=2">Shop</a>'
        + "<p>"
        + "long line " * 300
        + "</p></body></html>",
        text=None,
        preview_text="Twenty percent",
        headers={"X-Campaign": "sale"},
        tracking_open=True,
        tracking_click=True,
        unsubscribe_group="SALE01",
        campaign_id=new_id(),
    )
    return replace(base, **overrides)


def recipient(name: str, email_address: str) -> Recipient:
    row = new_id()
    return Recipient(row, f"<{row}@example.com>", email_address, name, {"first_name": name.split()[0]})


async def send_and_receive(controller, recorder, out):
    await aiosmtplib.send(
        out.data,
        sender=out.mail_from,
        recipients=list(out.rcpt_to),
        hostname=controller.hostname,
        port=controller.port,
        timeout=10,
    )
    return recorder.envelopes[-1]


@pytest.mark.parametrize("with_dkim", [False, True])
@pytest.mark.parametrize("attachments", [(), (("données.csv", "text/csv", b"a,b\n1,2\n" * 500),)])
async def test_messages_arrive_byte_for_byte(smtp_server, with_dkim, attachments):
    controller, recorder = smtp_server
    private_pem, public_b64 = generate_dkim_keypair()
    signer = DkimSigner("example.com", "s1", private_pem) if with_dkim else None
    skeleton = compile_skeleton(campaign_spec(attachments=attachments), LINKS, dkim=signer)
    people = [recipient("Ann Lee", "ann@example.org"), recipient("Zoë Ōtsuka", "zoe@example.net")]
    for person in people:
        out = skeleton.render(person, now=datetime.now(UTC))
        envelope = await send_and_receive(controller, recorder, out)
        assert envelope.content == out.data
        assert envelope.mail_from == out.mail_from and envelope.rcpt_tos == [person.email]
        message = email.message_from_bytes(envelope.content, policy=email.policy.strict)
        assert all(part.defects == [] for part in message.walk())
        assert message["Message-ID"] == person.message_id_header
        if with_dkim:
            assert dkim.verify(
                envelope.content, dnsfunc=lambda name, timeout=5: dkim_dns_value(public_b64).encode()
            )
    assert len(recorder.envelopes) == len(people)


async def test_transactional_message_without_tracking(smtp_server):
    controller, recorder = smtp_server
    spec = campaign_spec(
        kind="transactional",
        unsubscribe_group=None,
        tracking_open=False,
        tracking_click=False,
        text="Your code is {{code}}.",
        subject="Code {{code}}",
    )
    person = Recipient(new_id(), f"<{new_id()}@example.com>", "ann@example.org", None, {"code": "123456"})
    out = compile_skeleton(spec, LINKS).render(person)
    envelope = await send_and_receive(controller, recorder, out)
    assert envelope.content == out.data
    message = email.message_from_bytes(envelope.content, policy=email.policy.strict)
    assert message["Subject"] == "Code 123456" and message["List-Unsubscribe"] is None
    assert message.get_body(("plain",)).get_content() == "Your code is 123456."
