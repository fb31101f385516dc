"""A runner process killed with SIGKILL in the middle of a pass, then another runner taking over
once the dead one's leases run out (injected clock, nothing sleeps for the lease): every contact
gets every email exactly once, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.automation_runner import AutomationRunner
from sendhouse.domain.times import utcnow
from sendhouse.services.automation_steps import LEASE_SECONDS
from sendhouse.services.imports import import_rows
from tests.support.automation_data import automation, mail_by_email, runs, series, step_log_count
from tests.support.sending_data import wait_for

CONTACTS = 1500
RUNNER = """
import asyncio
from sendhouse.automation_runner import AutomationRunner
from sendhouse.bootstrap import build_container
from sendhouse.config import Settings

async def main():
    container = build_container(Settings(), migrate=False)
    await AutomationRunner(container, interval=0.05, batch=50, name="doomed").run()

asyncio.run(main())
"""


def _spawn(settings) -> subprocess.Popen:
    env = {
        **os.environ,
        "SENDHOUSE_DATABASE_URL": settings.resolved_database_url(),
        "SENDHOUSE_DATA_DIR": str(settings.data_dir),
        "SENDHOUSE_SECRET_KEY": "test-secret-key",
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _some_steps(db, aid: str) -> bool:
    return await step_log_count(db, aid) > 0


async def test_kill_9_mid_pass_then_takeover(api, tenant, settings):
    aid = await automation(api, tenant, steps=series(0, 0, 0))
    rows = ((i + 2, [f"u{i}@example.com"]) for i in range(CONTACTS))
    await import_rows(api.db, tenant.project_id, ["email"], rows, chunk_size=500)
    proc = _spawn(settings)
    try:
        await wait_for(lambda: _some_steps(api.db, aid), timeout=120)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    before = await step_log_count(api.db, aid)
    assert 0 < before < CONTACTS * 6  # killed in the middle of the work
    later = utcnow() + timedelta(seconds=LEASE_SECONDS + 1)  # the dead runner's leases have run out
    runner = AutomationRunner(api.container, name="survivor")
    while await runner.tick(later):
        pass
    assert await step_log_count(api.db, aid) == CONTACTS * 6
    assert {r["status"] for r in await runs(api.db, aid)} == {"completed"}
    mail = await mail_by_email(api.db, aid)
    assert len(mail) == CONTACTS and all(
        subjects == ["Mail 1", "Mail 2", "Mail 3"] for subjects in mail.values()
    )
    async with api.db.read() as conn:
        total = (await conn.execute(sa.text("SELECT count(*) FROM messages"))).scalar_one()
    assert total == CONTACTS * 3
