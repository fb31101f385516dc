"""The delivery worker against a real SMTP server (aiosmtpd in-process) on SQLite and PostgreSQL:
every recipient once with its row's Message-ID, reply classification, retries and the relay
auto-pause; and the capture transport (the default) keeping each message with its subject."""

from __future__ import annotations

import sqlalchemy as sa

from sendhouse.delivery.capture import list_captured, read_captured
from sendhouse.store.schema.audience import suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events
from tests.support.sending_data import (
    campaign_row,
    container_for,
    ledger_counts,
    running,
    start_campaign,
    wait_for,
)
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
                rows = (
                    await conn.execute(
                        sa.select(messages.c.email, messages.c.message_id_header, messages.c.status).where(
                            messages.c.campaign_id == cid
                        )
                    )
                ).all()
        finally:
            await container.close()
    assert {r.status for r in rows} == {"sent"} and len(rows) == 120
    assert sink.recipients() == {r.email: 1 for r in rows}
    by_rcpt = {m.rcpt_to[0]: m.message_id for m in sink.messages}
    assert by_rcpt == {r.email: r.message_id_header for r in rows}
    assert all(b"Hello User" in m.data for m in sink.messages)


async def test_replies_are_classified_5xx_bounce_4xx_retry_then_fail(api, tenant, settings):
    def reply(address):
        if address.startswith("user1@"):
            return "550 5.1.1 no such user"
        if address.startswith("user2@"):
            return "451 4.3.0 try later"
        return None

    with SmtpSink(rcpt_reply=reply) as sink:
        container = container_for(settings, smtp_url=sink.url, retry_base_seconds=0, max_attempts=3)
        try:
            cid = await start_campaign(container.db, tenant.project_id, 5)
            async with running(container):
                await wait_for(lambda: _sent(container, cid))
            async with container.db.read() as conn:
                rows = {
                    r.email: r
                    for r in (
                        await conn.execute(sa.select(messages).where(messages.c.campaign_id == cid))
                    ).all()
                }
                suppressed = (
                    await conn.execute(sa.select(suppressions.c.email, suppressions.c.reason))
                ).all()
                events = (await conn.execute(sa.select(message_events.c.type, message_events.c.detail))).all()
        finally:
            await container.close()
    bounced, deferred = rows["user1@example.com"], rows["user2@example.com"]
    assert (bounced.status, bounced.attempts) == ("failed", 1) and bounced.smtp_response.startswith("550")
    assert (deferred.status, deferred.attempts) == ("failed", 3) and "451" in deferred.last_error
    assert suppressed == [("user1@example.com", "BOUNCE")]
    assert [(t, d["bounceType"], d["code"]) for t, d in events] == [("bounced", "hard", 550)]
    assert sorted(sink.recipients()) == ["user0@example.com", "user3@example.com", "user4@example.com"]


async def test_temporary_failure_is_deferred_with_backoff(api, tenant, settings):
    with SmtpSink(data_replies=["421 4.7.0 slow down"]) as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=1, retry_base_seconds=600)
        try:
            cid = await start_campaign(container.db, tenant.project_id, 2)
            async with running(container, scheduler=False):
                await wait_for(lambda: _count(container, cid, "sent", 1))
                await wait_for(lambda: _count(container, cid, "deferred", 1))
            async with container.db.read() as conn:
                row = (
                    await conn.execute(
                        sa.select(messages).where(
                            messages.c.campaign_id == cid, messages.c.status == "deferred"
                        )
                    )
                ).one()
        finally:
            await container.close()
    delay = (row.next_attempt_at - row.updated_at).total_seconds()
    assert 480 <= delay <= 720 and row.attempts == 1 and "421" in row.last_error


async def _count(container, cid, status, n):
    return (await ledger_counts(container.db, cid))[status] == n


async def test_relay_that_keeps_failing_pauses_the_campaign(api, tenant, settings):
    dead = f"smtp://127.0.0.1:{free_port()}?timeout=2"
    container = container_for(
        settings, smtp_url=dead, relay_failure_limit=5, retry_base_seconds=0, max_attempts=100
    )
    try:
        cid = await start_campaign(container.db, tenant.project_id, 30)
        async with running(container, scheduler=False, batch_size=10):
            row = await wait_for(lambda: _paused(container, cid))
        counts = await ledger_counts(container.db, cid)
    finally:
        await container.close()
    assert "relay keeps failing" in row["paused_reason"]
    assert counts["sent"] == 0 and counts["failed"] == 0 and counts["sending"] == 0
    assert counts["queued"] + counts["deferred"] == 30


async def _paused(container, cid):
    row = await campaign_row(container.db, cid)
    return row if row["status"] == "paused" else None


async def test_capture_transport_keeps_every_message_with_its_subject(api, tenant, settings):
    container = container_for(settings, smtp_url="capture")
    try:
        plain = await start_campaign(container.db, tenant.project_id, 40, subject="Plain news")
        accented = await start_campaign(
            container.db, tenant.project_id, 10, subject="Nouvelles été", prefix="accent"
        )
        async with running(container):
            await wait_for(lambda: _sent(container, plain))
            await wait_for(lambda: _sent(container, accented))
    finally:
        await container.close()
    entries, total = list_captured(settings.data_dir, limit=100)
    assert total == 50
    by_rcpt = {e["rcpt_to"]: e for e in entries}
    assert {by_rcpt[f"user{i}@example.com"]["subject"] for i in range(40)} == {"Plain news"}
    assert {by_rcpt[f"accent{i}@example.com"]["subject"] for i in range(10)} == {"Nouvelles été"}
    entry, raw = read_captured(settings.data_dir, by_rcpt["user7@example.com"]["id"])
    assert b"Subject: Plain news\r\n" in raw and entry["size"] == len(raw)
