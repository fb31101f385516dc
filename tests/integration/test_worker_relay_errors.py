"""Relay errors through the worker on SQLite and PostgreSQL: a refused MAIL FROM (530), a protocol
error to RCPT (503), a 421 in mid-session and a relay that hangs up during DATA defer the message
and suppress nobody (no `bounced` event, no suppression), and everyone still gets the mail once;
a relay that refuses every MAIL FROM, or our credentials (535), trips the relay-failure limit (the
campaign is paused).
Internationalised recipients: an IDN domain is delivered IDNA-encoded to a relay without SMTPUTF8;
a non-ASCII local part fails that one message and suppresses nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.store.schema.audience import contacts, list_members, suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events
from tests.support.scripted_smtp import ScriptedSmtp
from tests.support.sending_data import HTML, campaign_row, container_for, running, seed_list, wait_for


async def _campaign(db, project_id: str, size: int, extra: tuple[str, ...] = ()) -> str:
    """A started campaign to `size` plain contacts plus the `extra` addresses."""
    list_id, now = await seed_list(db, project_id, size), utcnow()
    async with db.write() as conn:
        for email in extra:
            contact_id = ids.new_id()
            await conn.execute(
                contacts.insert().values(
                    id=contact_id,
                    project_id=project_id,
                    email=email,
                    custom_fields={},
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                list_members.insert().values(list_id=list_id, contact_id=contact_id, created_at=now)
            )
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": HTML,
        "from": {"email": "news@example.com"},
        "toLists": [list_id],
        "sendNow": True,
    }
    created = await campaign_service.create_campaign(db, project_id, body, send_now_delay=0)
    assert await campaign_service.start_campaign(db, created["id"], utcnow()) is not None
    return created["id"]


async def _rows(db, cid) -> dict:
    async with db.read() as conn:
        return {
            r.email: r for r in (await conn.execute(sa.select(messages).where(messages.c.campaign_id == cid)))
        }


async def _nothing_suppressed(db) -> None:
    async with db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(suppressions))).scalar_one() == 0
        bounced = sa.select(sa.func.count()).where(message_events.c.type == "bounced")
        assert (await conn.execute(bounced)).scalar_one() == 0


async def _done(container, cid):
    return (await campaign_row(container.db, cid))["status"] == "sent"


@pytest.mark.parametrize("pipelining", [False, True], ids=["unpipelined", "pipelined"])
async def test_relay_failures_defer_and_suppress_nobody(api, tenant, settings, pipelining):
    with ScriptedSmtp(pipelining=pipelining) as relay:
        relay.script_mail("530 5.7.0 Authentication required", "530 5.7.0 Authentication required")
        relay.script_rcpt("503 5.5.1 Error: need MAIL command", "421 4.3.2 shutting down")
        relay.cut_next_data()
        container = container_for(
            settings,
            smtp_url=relay.url(),
            smtp_connections=1,
            retry_base_seconds=0,
            max_attempts=10,
            relay_failure_limit=50,
        )
        try:
            cid = await _campaign(container.db, tenant.project_id, 6)
            async with running(container):
                await wait_for(lambda: _done(container, cid))
            rows = await _rows(container.db, cid)
            await _nothing_suppressed(container.db)
        finally:
            await container.close()
    assert {r.status for r in rows.values()} == {"sent"}
    assert sum(r.attempts for r in rows.values()) == 6 + 5  # five relay failures, each one retry
    assert sorted(rcpt for kept in relay.kept for rcpt in kept.rcpt_to) == sorted(rows)
    assert relay.nested_mail_errors() == 0


@pytest.mark.parametrize("refusal", ["530-to-mail-from", "535-to-auth"])
async def test_relay_refusing_every_message_pauses_the_campaign(api, tenant, settings, refusal):
    with ScriptedSmtp(auth=refusal == "535-to-auth") as relay:
        relay.script_mail(*["530 5.7.0 Authentication required"] * 200)
        url = relay.url("user:wrong@") if refusal == "535-to-auth" else relay.url()
        container = container_for(
            settings, smtp_url=url, relay_failure_limit=5, retry_base_seconds=0, max_attempts=100
        )
        try:
            cid = await _campaign(container.db, tenant.project_id, 20)
            async with running(container, scheduler=False, batch_size=10):
                row = await wait_for(lambda: _paused(container, cid))
            rows = await _rows(container.db, cid)
            await _nothing_suppressed(container.db)
        finally:
            await container.close()
    assert "relay keeps failing" in row["paused_reason"]
    assert ("Authentication required" if refusal == "530-to-mail-from" else "535") in row["paused_reason"]
    assert {r.status for r in rows.values()} <= {"queued", "deferred"}
    assert relay.kept == []


async def _paused(container, cid):
    row = await campaign_row(container.db, cid)
    return row if row["status"] == "paused" else None


async def test_international_recipients(api, tenant, settings):
    with ScriptedSmtp() as relay:
        container = container_for(settings, smtp_url=relay.url(), smtp_connections=1)
        try:
            cid = await _campaign(
                container.db, tenant.project_id, 3, ("kunde@bücher.example", "jürgen@example.com")
            )
            async with running(container):
                await wait_for(lambda: _done(container, cid))
            rows = await _rows(container.db, cid)
            await _nothing_suppressed(container.db)
        finally:
            await container.close()
    assert rows["kunde@bücher.example"].status == "sent"
    failed = rows["jürgen@example.com"]
    assert (failed.status, failed.attempts) == ("failed", 1)
    delivered = sorted(rcpt for kept in relay.kept for rcpt in kept.rcpt_to)
    assert delivered == [
        "kunde@xn--bcher-kva.example",
        "user0@example.com",
        "user1@example.com",
        "user2@example.com",
    ]
    assert relay.nested_mail_errors() == 0
