"""Rows queued through /v1/mails/send built into real messages with transactional_spec + domain.mime."""

from __future__ import annotations

import base64
import email
import email.policy

from sendhouse.domain import mime
from sendhouse.services.compose import recipient, transactional_variables
from sendhouse.services.transactional import transactional_spec
from tests.integration.test_mails_send import ledger, mail

LINKS = mime.LinkSettings(public_url="http://sendhouse.test", bounce_domain="bounce.test", secret="s" * 32)


async def built(api, tenant, body: dict) -> dict[str, email.message.EmailMessage]:
    """address → the parsed message its ledger row becomes."""
    response = await api.client.post("/v1/mails/send", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    rows = await ledger(api, tenant.project_id)
    content_row = next(r for r in rows if "content" in r["payload"])
    skeleton = mime.compile_skeleton(transactional_spec(content_row["payload"], tenant.project_id), LINKS)
    out = {}
    for row in rows:
        outgoing = skeleton.render(recipient(row, transactional_variables(row)))
        assert outgoing.rcpt_to == (row["email"],)
        out[row["email"]] = email.message_from_bytes(outgoing.data, policy=email.policy.default)
    return out


async def test_rendered_with_dynamic_data_headers_and_cc(api, tenant):
    body = mail(
        cc=[{"email": "cc@example.org", "name": "Cee"}],
        bcc=[{"email": "hidden@example.org"}],
        headers={"X-Order": "42"},
        replyTo={"email": "help@example.com"},
        trackingOpen=False,
    )
    messages = await built(api, tenant, body)
    to_copy = messages["ann@example.org"]
    assert to_copy["Subject"] == "Hello Ann"
    assert to_copy["Cc"] == "Cee <cc@example.org>" and "hidden@example.org" not in str(to_copy)
    assert to_copy["X-Order"] == "42" and to_copy["Reply-To"] == "help@example.com"
    html = to_copy.get_body(("html",)).get_content()
    assert "<p>Hi Ann</p>" in html
    assert messages["hidden@example.org"]["Cc"] == "Cee <cc@example.org>"
    ids = {m["Message-ID"] for m in messages.values()}
    assert len(ids) == 3


async def test_attachments_are_decoded_into_the_message(api, tenant):
    raw = b"%PDF-1.4 \x00\x01 binary"
    body = mail(
        attachments=[
            {
                "fileName": "invoice.pdf",
                "content": base64.b64encode(raw).decode(),
                "contentType": "application/pdf",
            }
        ]
    )
    message = (await built(api, tenant, body))["ann@example.org"]
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "invoice.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == raw
