"""The one claim form (store/claims.py) under many concurrent holders, on SQLite and PostgreSQL:
for the ledger claim, the gradual release and hold, the automation runs and the webhook outbox, no
row is taken twice and no statement changes more rows than its limit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import projects as project_service
from sendhouse.store import automation_runs, ledger
from sendhouse.store import webhooks as webhook_store
from sendhouse.store.schema.automations import automation_runs as runs
from sendhouse.store.schema.automations import automations
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.webhooks import webhook_deliveries, webhooks
from tests.support.sending_data import start_campaign

HOLDERS = 8


async def together(container, op) -> list:
    """`op(conn, i)` in HOLDERS write transactions that are all open before any of them starts it."""
    barrier = asyncio.Barrier(HOLDERS)

    async def one(i: int):
        async with container.db.write() as conn:
            if container.db.is_postgres:  # SQLite's single writer cannot hold two transactions open
                await conn.execute(sa.text("SELECT 1"))
                await barrier.wait()
            return await op(conn, i)

    return await asyncio.gather(*(one(i) for i in range(HOLDERS)))


async def _project(container) -> str:
    return (await project_service.create_project(container.db, name="claims"))["id"]


async def _held_campaign(container, size: int) -> str:
    """A started campaign whose rows are all held back, as a gradual campaign's are."""
    cid = await start_campaign(container.db, await _project(container), size)
    async with container.db.write() as conn:
        await conn.execute(
            messages.update().where(messages.c.campaign_id == cid).values(next_attempt_at=ledger.HOLD_UNTIL)
        )
    return cid


async def _released(container, cid: str) -> set[str]:
    async with container.db.read() as conn:
        query = sa.select(messages.c.id).where(
            messages.c.campaign_id == cid, messages.c.next_attempt_at < ledger.HOLD_UNTIL
        )
        return set((await conn.execute(query)).scalars())


def _each_took_ten_apart(batches: list[list[str]]) -> list[str]:
    """Every holder claimed exactly its limit of 10 and no row went to two of them; the rows."""
    claimed = [row for batch in batches for row in batch]
    assert [len(b) for b in batches] == [10] * HOLDERS
    assert len(set(claimed)) == len(claimed) == HOLDERS * 10
    return claimed


async def test_concurrent_ledger_claims_never_exceed_their_limit(container):
    await start_campaign(container.db, await _project(container), 120)
    now = utcnow()

    async def claim(conn, i: int) -> list[str]:
        rows = await ledger.claim(conn, worker=f"w{i}", limit=10, now=now, lease_seconds=60)
        return [r["id"] for r in rows]

    claimed = _each_took_ten_apart(await together(container, claim))
    async with container.db.read() as conn:
        leased = (
            await conn.execute(sa.select(sa.func.count()).where(messages.c.status == "sending"))
        ).scalar_one()
    assert leased == len(claimed)


async def test_concurrent_releases_release_exactly_their_count(container):
    cid = await _held_campaign(container, 100)
    now = utcnow()

    async def release(conn, _i: int) -> int:
        return await ledger.release_held(conn, cid, 7, now)

    counts = await together(container, release)
    assert counts == [7] * HOLDERS
    assert len(await _released(container, cid)) == HOLDERS * 7


async def test_the_last_releases_stop_at_the_held_rows(container):
    cid = await _held_campaign(container, 20)

    async def release(conn, _i: int) -> int:
        return await ledger.release_held(conn, cid, 7, utcnow())

    counts = await together(container, release)
    assert sum(counts) == 20 and all(c <= 7 for c in counts)
    assert len(await _released(container, cid)) == 20


async def test_concurrent_holds_keep_exactly_the_allowance(container):
    cid = await start_campaign(container.db, await _project(container), 60)  # every row released

    async def hold(conn, _i: int) -> int:
        return await ledger.hold_beyond(conn, cid, 25, utcnow())

    counts = await together(container, hold)
    assert sorted(counts) == [0] * (HOLDERS - 1) + [35]
    assert len(await _released(container, cid)) == 25


async def _runs(container, count: int) -> None:
    """An active automation with `count` due runs nobody leases."""
    project_id, now, automation_id = await _project(container), utcnow(), ids.new_id()
    async with container.db.write() as conn:
        await conn.execute(
            automations.insert().values(
                id=automation_id,
                project_id=project_id,
                name="claims",
                status="active",
                trigger_type="contactCreated",
                entry_criteria={},
                exit_criteria={},
                steps=[],
                tags=[],
                created_at=now,
                updated_at=now,
            )
        )
        await automation_runs.enroll(
            conn,
            [
                {
                    "id": ids.new_id(),
                    "project_id": project_id,
                    "automation_id": automation_id,
                    "contact_id": ids.new_id(),
                    "entry_key": "once",
                    "status": "active",
                    "step_id": "s1",
                    "due_at": now,
                    "entered_at": now,
                    "updated_at": now,
                }
                for _ in range(count)
            ],
        )


async def test_concurrent_automation_run_claims_never_exceed_their_limit(container):
    await _runs(container, 100)
    now = utcnow()

    async def claim(conn, i: int) -> list[str]:
        rows = await automation_runs.claim(conn, runner=f"r{i}", limit=10, now=now, lease_seconds=60)
        return [r["id"] for r in rows]

    _each_took_ten_apart(await together(container, claim))
    async with container.db.read() as conn:
        leased = (
            await conn.execute(sa.select(runs.c.lease_owner, sa.func.count()).group_by(runs.c.lease_owner))
        ).all()
    assert sorted(leased, key=str) == sorted([(f"r{i}", 10) for i in range(HOLDERS)] + [(None, 20)], key=str)


async def _deliveries(container, count: int) -> None:
    project_id, now = await _project(container), utcnow()
    webhook_id = ids.new_id()
    async with container.db.write() as conn:
        await conn.execute(
            webhooks.insert().values(
                id=webhook_id,
                organization_id=ids.new_id(),
                project_id=project_id,
                url="https://hooks.example.com/",
                secret="whsec_x",
                events=["email.sent"],
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            webhook_deliveries.insert(),
            [
                {
                    "id": ids.new_id(),
                    "webhook_id": webhook_id,
                    "project_id": project_id,
                    "event": "email.sent",
                    "payload": b"{}",
                    "status": "pending",
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for _ in range(count)
            ],
        )


async def test_concurrent_webhook_claims_never_exceed_their_limit(container):
    """Fair claims choose their rows first and lease them with a conditional UPDATE: claimers that
    chose the same rows get fewer, never a row twice and never more than their capacity."""
    await _deliveries(container, 100)
    now = utcnow()
    capacity = webhook_store.Capacity(limit=10, per_webhook=100, per_project=100)

    async def claim(conn, i: int) -> list[str]:
        rows = await webhook_store.claim_due(
            conn, owner=f"d{i}", now=now, lease_until=now + timedelta(minutes=1), capacity=capacity
        )
        return [r["id"] for r in rows]

    batches = await together(container, claim)
    claimed = [row for batch in batches for row in batch]
    assert all(len(b) <= 10 for b in batches) and any(len(b) == 10 for b in batches)
    assert len(set(claimed)) == len(claimed)
    async with container.db.read() as conn:
        leased = (
            await conn.execute(sa.select(sa.func.count()).where(webhook_deliveries.c.status == "delivering"))
        ).scalar_one()
    assert leased == len(claimed)
