"""Scheduler leadership on PostgreSQL survives a lost lock connection (e.g. a server restart)."""

from __future__ import annotations

import asyncio
import os

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from sendhouse import scheduler
from sendhouse.scheduler import ADVISORY_LOCK_KEY, leadership
from sendhouse.store.db import async_url

pytestmark = pytest.mark.skipif(not os.environ.get("SENDHOUSE_TEST_POSTGRES_URL"), reason="needs PostgreSQL")


@pytest.fixture
def postgres_container(request):
    """A container on this session's PostgreSQL test database."""
    request.getfixturevalue("postgres_database")
    return request.getfixturevalue("container")


@pytest.fixture
def db_kind():
    return "postgres"


async def _terminate_lock_holder(url: str) -> None:
    engine = create_async_engine(async_url(url))
    query = sa.text(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"
    )
    async with engine.begin() as conn:
        await conn.execute(query, {"k": ADVISORY_LOCK_KEY})
    await engine.dispose()


async def test_a_leader_whose_connection_dies_steps_down_and_another_takes_over(
    postgres_container, monkeypatch
):
    monkeypatch.setattr(scheduler, "LEADERSHIP_CHECK", 0.1)
    db = postgres_container.db
    async with leadership(db, asyncio.Event()) as first, leadership(db, asyncio.Event()) as second:
        assert (first(), second()) == (True, False)
        await _terminate_lock_holder(db.url)
        stepped_down = await _eventually(lambda: not first())
        await _eventually(lambda: first() != second())
        assert stepped_down and [first(), second()].count(True) == 1


async def _eventually(condition) -> bool:
    for _ in range(100):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False
