"""Dashboard Inbox and SMTP credentials over the ASGI app on both databases: the inbox list with
filters, a message with its verdicts, attachments (bytes exact) and raw source, a reply queued from
the page, another project's message 404; SMTP keys shown once with the connection settings, usable
by the submission service, and revoked; receiving switched on and off from the domain page."""

from __future__ import annotations

import re

import sqlalchemy as sa

from sendhouse.services import inbound_receive, smtp_keys, users
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.content import domains
from tests.support.inbound_data import message

PASSWORD = "correct horse battery"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 5


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


async def _login(api, tenant, email="ada@shop.example") -> str:
    await users.create_user(api.db, email, password=PASSWORD, project_id=tenant.project_id)
    page = await api.client.get("/app/login")
    done = await api.client.post(
        "/app/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)}
    )
    assert done.status_code == 303
    return _csrf((await api.client.get("/app/inbox")).text)


async def _deliver(api, project_id: str, raw: bytes) -> str:
    domain = inbound_receive.default_domain(api.container.settings, project_id)
    envelope = inbound_receive.Envelope(
        "bob@example.org", (f"in@{domain}",), "127.0.0.1", "client.example.org"
    )
    [stored] = await inbound_receive.receive(
        api.db, api.container.settings, envelope, raw, [inbound_receive.Route(project_id, domain, True)]
    )
    return stored


async def test_inbox_lists_filters_and_shows_a_message_with_its_parts(api, tenant, other_tenant):
    token = await _login(api, tenant)
    first = await _deliver(
        api,
        tenant.project_id,
        message(
            sender="Ann <ann@example.org>",
            to="x@example.com",
            subject="Invoice",
            html="<p>Pay</p>",
            attachments=(("inv.pdf", "application/pdf", PDF),),
        ),
    )
    await _deliver(
        api, tenant.project_id, message(sender="bob@example.org", to="x@example.com", subject="Other")
    )
    page = await api.client.get("/app/inbox")
    assert page.status_code == 200 and "Invoice" in page.text and "Other" in page.text
    assert f"anything@{tenant.project_id}." in page.text
    filtered = await api.client.get("/app/inbox", params={"sender": "ann@example.org"})
    assert "Invoice" in filtered.text and "Other" not in filtered.text
    shown = await api.client.get(f"/app/inbox/{first}")
    assert 'id="spf">' in shown.text and "inv.pdf" in shown.text and "&lt;p&gt;Pay&lt;/p&gt;" in shown.text
    att_id = re.search(rf"/app/inbox/{first}/attachments/(att_[0-9a-f]{{24}})", shown.text)[1]
    assert (await api.client.get(f"/app/inbox/{first}/attachments/{att_id}")).content == PDF
    assert b"Subject: Invoice" in (await api.client.get(f"/app/inbox/{first}/raw")).content
    replied = await api.client.post(
        f"/app/inbox/{first}/reply",
        data={"from_email": "support@example.com", "text": "Paid.", "csrf_token": token},
    )
    assert replied.status_code == 303
    async with api.db.read() as conn:
        [row] = (await conn.execute(sa.select(messages))).mappings().all()
    assert row["email"] == "ann@example.org" and row["payload"]["content"]["subject"] == "Re: Invoice"
    bad = await api.client.post(
        f"/app/inbox/{first}/reply", data={"from_email": "", "text": "x", "csrf_token": token}
    )
    assert "from" in (await api.client.get(bad.headers["location"])).text
    other = await _deliver(api, other_tenant.project_id, message(sender="c@example.org", to="y@example.com"))
    assert (await api.client.get(f"/app/inbox/{other}")).status_code == 404
    assert (
        await api.client.post(
            f"/app/inbox/{other}/reply",
            data={"from_email": "support@example.com", "text": "x", "csrf_token": token},
        )
    ).status_code == 404


async def test_smtp_key_is_shown_once_with_the_settings_and_revoked(api, tenant):
    token = await _login(api, tenant)
    created = await api.client.post("/app/keys/smtp", data={"name": "wordpress", "csrf_token": token})
    secret = re.search(r'id="new-smtp-key">(AS_[^<]+)<', created.text)[1]
    assert 'id="smtp-settings"' in created.text and "autosend" in created.text
    assert (await smtp_keys.authenticate(api.db, secret))["project_id"] == tenant.project_id
    assert secret not in (await api.client.get("/app/keys")).text
    key_id = re.search(r"/app/keys/smtp/([0-9a-f]{24})/revoke", created.text)[1]
    await api.client.post(f"/app/keys/smtp/{key_id}/revoke", data={"csrf_token": token})
    assert await smtp_keys.authenticate(api.db, secret) is None


async def test_receiving_is_switched_from_the_domain_page(api, tenant):
    token = await _login(api, tenant)
    added = (
        await api.client.post("/v1/domains", json={"domain": "example.com"}, headers=tenant.headers)
    ).json()
    domain_id = added["data"]["id"]
    refused = await api.client.post(f"/app/domains/{domain_id}/inbound/enable", data={"csrf_token": token})
    assert "verified for sending" in (await api.client.get(refused.headers["location"])).text
    async with api.db.write() as conn:
        await conn.execute(
            domains.update().where(domains.c.id == domain_id).values(verification_status="VERIFIED")
        )
    await api.client.post(f"/app/domains/{domain_id}/inbound/enable", data={"csrf_token": token})
    page = (await api.client.get(f"/app/domains/{domain_id}")).text
    assert "Receiving is on" in page and '<tr data-record="inbound"><td>Inbound mail (MX)</td>' in page
    await api.client.post(f"/app/domains/{domain_id}/inbound/disable", data={"csrf_token": token})
    assert "Receiving is off" in (await api.client.get(f"/app/domains/{domain_id}")).text
