"""The ledger's claim statement and lease bookkeeping (store/ledger.py) on SQLite and PostgreSQL:
concurrent claimers get disjoint batches, only sending campaigns are claimed, transactional rows
(priority 10) go before campaign rows (100), expired leases return rows to queued, deferred rows
become due, and only the lease holder can record a non-final outcome."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from sendhouse.store import ledger
from sendhouse.store.schema.campaigns import messages
from tests.support.sending_data import ledger_counts, start_campaign


async def _project(container) -> str:
    return (await project_service.create_project(container.db, name="ledger"))["id"]


async def _claim(container, worker: str, limit: int, now, lease: float = 60) -> list[dict]:
    async with container.db.write() as conn:
        return await ledger.claim(conn, worker=worker, limit=limit, now=now, lease_seconds=lease)


async def _transactional(container, project_id: str, count: int, now) -> list[str]:
    rows = [
        {
            "id": ids.new_id(),
            "project_id": project_id,
            "kind": "transactional",
            "priority": ledger.TRANSACTIONAL_PRIORITY,
            "email": f"tx{i}@example.com",
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "message_id_header": f"<tx{i}@example.com>",
            "payload": {},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    async with container.db.write() as conn:
        await conn.execute(messages.insert(), rows)
    return [r["id"] for r in rows]


async def test_concurrent_claimers_get_disjoint_batches(container):
    cid = await start_campaign(container.db, await _project(container), 300)
    now = utcnow()
    batches = await asyncio.gather(*(_claim(container, f"w{i}", 100, now) for i in range(4)))
    claimed = [row["id"] for batch in batches for row in batch]
    assert all(len(batch) <= 100 for batch in batches)
    assert len(claimed) == len(set(claimed)) == 300
    async with container.db.read() as conn:
        owners = dict(
            (
                await conn.execute(
                    sa.select(messages.c.id, messages.c.lease_owner).where(messages.c.campaign_id == cid)
                )
            ).all()
        )
    assert {owners[row["id"]] for row in batches[0]} <= {"w0"} and (await ledger_counts(container.db, cid))[
        "sending"
    ] == 300


async def test_only_rows_of_sending_campaigns_are_claimed(container):
    project_id = await _project(container)
    paused = await start_campaign(container.db, project_id, 5, prefix="p")
    active = await start_campaign(container.db, project_id, 5, prefix="a")
    await campaign_service.pause_campaign(container.db, project_id, paused)
    rows = await _claim(container, "w", 100, utcnow())
    assert {row["campaign_id"] for row in rows} == {active} and len(rows) == 5
    assert await _claim(container, "w", 100, utcnow()) == []


async def test_transactional_rows_go_before_campaign_rows(container):
    project_id = await _project(container)
    await start_campaign(container.db, project_id, 10)
    now = utcnow()
    tx = await _transactional(container, project_id, 3, now + timedelta(milliseconds=1))
    first = await _claim(container, "w", 4, now + timedelta(seconds=1))
    assert (
        sorted(row["kind"] for row in first) == ["campaign"] + ["transactional"] * 3
    )  # RETURNING has no order
    assert {row["id"] for row in first if row["kind"] == "transactional"} == set(tx)


async def test_rows_not_yet_due_wait(container):
    project_id = await _project(container)
    now = utcnow()
    await _transactional(container, project_id, 2, now + timedelta(seconds=30))
    assert await _claim(container, "w", 10, now) == []
    assert len(await _claim(container, "w", 10, now + timedelta(seconds=31))) == 2


async def test_expired_leases_return_rows_to_queued(container):
    cid = await start_campaign(container.db, await _project(container), 4)
    now = utcnow()
    assert len(await _claim(container, "dead", 10, now, lease=10)) == 4
    async with container.db.write() as conn:
        assert await ledger.expire_leases(conn, now + timedelta(seconds=9)) == 0
        assert await ledger.expire_leases(conn, now + timedelta(seconds=11)) == 4
    assert (await ledger_counts(container.db, cid)) == {"queued": 4}
    again = await _claim(container, "alive", 10, now + timedelta(seconds=12))
    assert len(again) == 4


async def test_deferred_rows_become_due_and_claimable(container):
    cid = await start_campaign(container.db, await _project(container), 1)
    now = utcnow()
    (row,) = await _claim(container, "w", 10, now)
    async with container.db.write() as conn:
        await ledger.mark_deferred(
            conn,
            [{"row_id": row["id"], "error": "451 later", "retry_at": now + timedelta(seconds=60)}],
            now,
            "w",
        )
        assert await ledger.promote_deferred(conn, now + timedelta(seconds=59)) == 0
    assert await _claim(container, "w", 10, now + timedelta(seconds=59)) == []
    async with container.db.write() as conn:
        assert await ledger.promote_deferred(conn, now + timedelta(seconds=61)) == 1
    (again,) = await _claim(container, "w", 10, now + timedelta(seconds=61))
    assert again["id"] == row["id"] and again["attempts"] == 1
    assert (await ledger_counts(container.db, cid)) == {"sending": 1}


async def test_only_the_lease_holder_records_a_retry_but_a_250_always_counts(container):
    cid = await start_campaign(container.db, await _project(container), 2)
    now = utcnow()
    first, second = await _claim(container, "w1", 10, now)
    async with container.db.write() as conn:
        await ledger.release(conn, [first["id"]], status="queued", now=now, worker="w2")
        await ledger.mark_failed(conn, [{"row_id": first["id"], "error": "x", "response": "x"}], now, "w2")
        assert (await ledger_counts(container.db, cid)) == {"sending": 2}
        await ledger.mark_sent(conn, [{"row_id": second["id"], "response": "250 ok"}], now)
        await ledger.release(conn, [first["id"]], status="queued", now=now, worker="w1")
    assert (await ledger_counts(container.db, cid)) == {"sent": 1, "queued": 1}
