"""Helpers for delivery tests: seed contacts/lists directly, create campaigns through the service,
run a worker and the scheduler until a condition holds (always bounded)."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import asynccontextmanager

import sqlalchemy as sa

from sendhouse.bootstrap import build_container
from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.scheduler import Scheduler
from sendhouse.services import campaigns as campaign_service
from sendhouse.store.schema.audience import contact_lists, contacts, list_members
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.worker import Worker

CHUNK = 2000
HTML = '<html><body><p>Hello {{first_name | "there"}}</p><a href="https://example.com/x">x</a></body></html>'


async def seed_list(db, project_id: str, size: int, *, prefix: str = "user") -> str:
    """A plain list of `size` contacts, inserted directly in chunks."""
    now, list_id = utcnow(), ids.new_id()
    async with db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id,
                project_id=project_id,
                name="Customers",
                type="list",
                created_at=now,
                updated_at=now,
            )
        )
    for start in range(0, size, CHUNK):
        people = [
            {
                "id": ids.new_id(),
                "project_id": project_id,
                "email": f"{prefix}{i}@example.com",
                "custom_fields": {},
                "first_name": f"User{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(size, start + CHUNK))
        ]
        async with db.write() as conn:
            await conn.execute(contacts.insert(), people)
            await conn.execute(
                list_members.insert(),
                [{"list_id": list_id, "contact_id": p["id"], "created_at": now} for p in people],
            )
    return list_id


async def start_campaign(db, project_id: str, size: int, **fields) -> str:
    """A campaign to a fresh list of `size` contacts, created through the service and started now."""
    list_id = await seed_list(db, project_id, size, prefix=fields.pop("prefix", "user"))
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": HTML,
        "from": {"email": "news@example.com"},
        "toLists": [list_id],
        "sendNow": True,
        **fields,
    }
    created = await campaign_service.create_campaign(db, project_id, body, send_now_delay=0)
    started = await campaign_service.start_campaign(db, created["id"], utcnow())
    assert started is not None
    return created["id"]


async def ledger_counts(db, campaign_id: str) -> Counter:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.campaign_id == campaign_id)
            .group_by(messages.c.status)
        )
        return Counter(dict(rows.all()))


async def campaign_row(db, campaign_id: str) -> dict:
    async with db.read() as conn:
        return dict(
            (await conn.execute(sa.select(campaigns).where(campaigns.c.id == campaign_id))).mappings().one()
        )


async def wait_for(predicate, *, timeout: float = 60.0, every: float = 0.05):
    """Poll an async predicate until it returns something truthy (fails the test after timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def container_for(settings, **overrides):
    return build_container(settings.model_copy(update=overrides), migrate=False)


@asynccontextmanager
async def running(container, *, scheduler: bool = True, **worker_options):
    """A worker (and a scheduler ticking fast) running in this event loop for the block."""
    worker = Worker(container, **worker_options)
    sched = Scheduler(container, interval=0.1) if scheduler else None
    tasks = [asyncio.create_task(worker.run())] + ([asyncio.create_task(sched.run())] if sched else [])
    try:
        yield worker
    finally:
        worker.stop()
        if sched:
            sched.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


def spawn_worker(settings, smtp_url: str, *, scheduler: bool = True, **env) -> subprocess.Popen:
    """`sendhouse worker` as a real process on the test's database, delivering to smtp_url."""
    variables = {
        **os.environ,
        "SENDHOUSE_DATABASE_URL": settings.resolved_database_url(),
        "SENDHOUSE_SMTP_URL": smtp_url,
        "SENDHOUSE_DATA_DIR": str(settings.data_dir),
        "SENDHOUSE_SECRET_KEY": "test-secret-key",
        **{k: str(v) for k, v in env.items()},
    }
    args = [sys.executable, "-m", "sendhouse", "worker"] + ([] if scheduler else ["--no-scheduler"])
    proc = subprocess.Popen(args, env=variables, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc.stderr_tail = collections.deque(maxlen=200)
    proc.retried_writes = 0
    threading.Thread(target=_drain, args=(proc,), daemon=True).start()
    return proc


def _drain(proc) -> None:
    """Read a child's stderr as it comes (a full pipe would block the worker), keeping the last lines
    and counting the outcome writes it had to retry."""
    for line in proc.stderr:
        proc.stderr_tail.append(line)
        proc.retried_writes += "outcomes failed; retrying" in line


def stop_worker(proc: subprocess.Popen, *, grace: float = 10) -> int:
    """SIGTERM, then SIGKILL if the worker did not stop within `grace` seconds; its return code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode
