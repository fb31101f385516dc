"""The delivery worker against a real SMTP server (aiosmtpd in-process) on SQLite and PostgreSQL:
every recipient once with its row's Message-ID, reply classification, retries and the relay
auto-pause."""

from __future__ import annotations

import sqlalchemy as sa

from sendhouse.store.schema.audience import suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events
from tests.support.sending_data import campaign_row, container_for, ledger_counts, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink, free_port


async def _sent(container, cid):
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def test_campaign_goes_out_once_per_recipient_with_its_message_id(api, tenant, settings):
    with SmtpSink() as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=4)
        try:
            cid = await start_campaign(container.db, tenant.project_id, 120)
            async with running(container):
                await wait_for(lambda: _sent(container, cid))
            async with container.db.read() as conn:
                rows = (await conn.execute(sa.select(messages.c.email, messages.c.message_id_header, messages.c.status)
                                           .where(messages.c.campaign_id == cid))).all()
        finally:
            await container.close()
    assert {r.status for r in rows} == {"sent"} and len(rows) == 120
    assert sink.recipients() == {r.email: 1 for r in rows}
    by_rcpt = {m.rcpt_to[0]: m.message_id for m in sink.messages}
    assert by_rcpt == {r.email: r.message_id_header for r in rows}
    assert all(b"Hello User" in m.data for m in sink.messages)
