"""Abort and pause of a real 3,000-recipient campaign going out to an SMTP server that takes a few
ms per DATA: after the abort response no MAIL FROM arrives (worker in the API's process, and worker
as a separate `sendhouse worker` process), every unsent row is cancelled, and the ledger adds up;
pause then resume delivers every recipient exactly once."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa

from sendhouse.store.schema.campaigns import messages
from tests.support.sending_data import (
    campaign_row,
    container_for,
    ledger_counts,
    running,
    spawn_worker,
    start_campaign,
    stop_worker,
    wait_for,
)
from tests.support.smtp_sink import SmtpSink

SIZE = 3000


async def _nothing_leased(container, cid):
    return (await ledger_counts(container.db, cid))["sending"] == 0


async def _received(sink, n):
    return len(sink.messages) >= n


@asynccontextmanager
async def _worker(where: str, container, settings, sink):
    """The worker in this process (beside the API) or as a separate process."""
    if where == "in-process":
        async with running(container):
            yield
        return
    proc = spawn_worker(settings, sink.url, SENDHOUSE_SMTP_CONNECTIONS=16)
    try:
        yield
    finally:
        assert stop_worker(proc) == 0, "".join(proc.stderr_tail)[-2000:]


@pytest.mark.parametrize("where", ["in-process", "separate-process"])
async def test_abort_mid_send_stops_every_new_smtp_transaction(api, tenant, settings, where):
    with SmtpSink(data_delay=0.003) as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=16)
        try:
            cid = await start_campaign(container.db, tenant.project_id, SIZE)
            async with _worker(where, container, settings, sink):
                await wait_for(lambda: _received(sink, 500))
                response = await api.client.post(f"/v1/campaigns/{cid}/abort", headers=tenant.headers)
                answered = time.monotonic()
                await wait_for(lambda: _nothing_leased(container, cid))
            counts = await ledger_counts(container.db, cid)
            row = await campaign_row(container.db, cid)
        finally:
            await container.close()
    assert response.status_code == 200 and response.json()["data"]["status"] == "aborted"
    times = sink.mail_from_times()
    assert len(times) >= 500 and [t for t in times if t > answered] == []
    assert row["status"] == "aborted" and counts["cancelled"] > 0
    assert counts["sent"] == len(sink.messages) < SIZE
    assert (
        counts["sent"] + counts["cancelled"] + counts["failed"] + counts["suppressed"]
        == row["total_contacts"]
        == SIZE
    )


async def test_pause_then_resume_delivers_each_recipient_exactly_once(api, tenant, settings):
    with SmtpSink(data_delay=0.003) as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=16)
        try:
            cid = await start_campaign(container.db, tenant.project_id, SIZE)
            async with running(container):
                await wait_for(lambda: _received(sink, 1000))
                paused = await api.client.post(f"/v1/campaigns/{cid}/pause", headers=tenant.headers)
                answered = time.monotonic()
                await wait_for(lambda: _nothing_leased(container, cid))
                at_pause = len(sink.messages)
                mid = await ledger_counts(container.db, cid)
                sink.handler.data_delay = 0  # the rest goes fast; only the pause needed a slow relay
                resumed = await api.client.post(f"/v1/campaigns/{cid}/resume", headers=tenant.headers)
                resumed_at = time.monotonic()
                await wait_for(lambda: _status(container, cid, "sent"), timeout=120)
            async with container.db.read() as conn:
                emails = set(
                    (
                        await conn.execute(
                            sa.select(messages.c.email).where(
                                messages.c.campaign_id == cid, messages.c.status == "sent"
                            )
                        )
                    ).scalars()
                )
        finally:
            await container.close()
    assert paused.json()["data"]["status"] == "paused" and resumed.json()["data"]["status"] == "sending"
    assert [t for t in sink.mail_from_times() if answered < t < resumed_at] == []
    assert mid["sent"] == at_pause < SIZE and mid["queued"] == SIZE - at_pause
    assert len(emails) == SIZE
    assert sink.recipients() == dict.fromkeys(emails, 1)


async def _status(container, cid, status):
    return (await campaign_row(container.db, cid))["status"] == status
