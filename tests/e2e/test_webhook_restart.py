"""A webhook delivery survives its dispatcher stopping or being killed mid-schedule.

The receiver fails the first attempt; the dispatcher goes away while the retry is pending; a new
dispatcher on a new container over the same database finishes the schedule, and the receiver
gets the event exactly once successfully (same delivery id and bytes as the failed attempt).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

from sendhouse.bootstrap import build_container
from sendhouse.domain.times import utcnow
from sendhouse.services import webhooks as service
from tests.support.http_receiver import HttpReceiver

DISPATCHER_SCRIPT = """
import asyncio
from sendhouse.bootstrap import build_container
from sendhouse.config import Settings
from sendhouse.services.webhooks import dispatcher_part

async def main():
    container = build_container(Settings(), migrate=False)
    async with dispatcher_part(container, poll_interval=0.05):
        await asyncio.sleep(120)

asyncio.run(main())
"""


async def _create_and_emit(api, tenant, url: str) -> dict:
    response = await api.client.post(
        "/v1/webhooks", json={"url": url, "events": ["contact.deleted"]}, headers=tenant.headers
    )
    hook = response.json()["data"]["webhook"]
    async with api.db.write() as conn:
        await service.emit(conn, tenant.project_id, "contact.deleted", {"contactId": "c7"}, now=utcnow())
    return hook


async def _log(api, tenant, hook_id: str) -> dict:
    response = await api.client.get(f"/v1/webhooks/{hook_id}/logs", headers=tenant.headers)
    return response.json()["data"]["logs"][0]


async def _wait_log(api, tenant, hook_id: str, *, status: str, attempts: int, rounds: int = 1000) -> dict:
    """Bounded polling of the delivery log until it reaches the given state."""
    for _ in range(rounds):
        entry = await _log(api, tenant, hook_id)
        if entry["status"] == status and entry["attempts"] == attempts:
            return entry
        await asyncio.sleep(0.02)
    return entry


async def _finish_with_new_container(api, tenant, settings, hook, receiver) -> None:
    """A fresh container and dispatcher on the same database complete the delivery exactly once."""
    restarted = build_container(settings, migrate=False)
    async with service.dispatcher_part(restarted, poll_interval=0.05):
        got = await receiver.arrived(2)
        entry = await _wait_log(api, tenant, hook["id"], status="succeeded", attempts=2)
    later = service.Dispatcher(
        restarted.db, allow_private=True, retry_schedule=settings.webhook_retry_schedule
    )
    assert await later.run_once(utcnow() + timedelta(hours=1)) == 0
    await later.close()
    await restarted.close()
    assert [r.answered for r in receiver.requests] == [500, 200]
    assert got[0].body == got[1].body and got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert (entry["status"], entry["attempts"], entry["statusCode"]) == ("succeeded", 2, 200)


async def test_stopped_dispatcher_and_container_resume_the_schedule(api, tenant, settings):
    settings = settings.model_copy(update={"webhook_retry_schedule": "1.5"})
    with HttpReceiver(fail_first=1) as receiver:
        hook = await _create_and_emit(api, tenant, receiver.url())
        first = build_container(settings, migrate=False)
        async with service.dispatcher_part(first, poll_interval=0.05):
            await receiver.arrived(1)
            pending = await _wait_log(api, tenant, hook["id"], status="pending", attempts=1)
        await first.close()
        assert (pending["status"], pending["attempts"], pending["statusCode"]) == ("pending", 1, 500)
        await _finish_with_new_container(api, tenant, settings, hook, receiver)


async def test_killed_dispatcher_process_loses_nothing(api, tenant, settings):
    settings = settings.model_copy(update={"webhook_retry_schedule": "3"})
    env = {
        **os.environ,
        "SENDHOUSE_DATABASE_URL": settings.database_url,
        "SENDHOUSE_DATA_DIR": str(settings.data_dir),
        "SENDHOUSE_SECRET_KEY": "test-secret-key",
        "SENDHOUSE_WEBHOOK_ALLOW_PRIVATE": "true",
        "SENDHOUSE_WEBHOOK_RETRY_SCHEDULE": "3",
    }
    with HttpReceiver(fail_first=1) as receiver:
        hook = await _create_and_emit(api, tenant, receiver.url())
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", DISPATCHER_SCRIPT, env=env)
        try:
            await receiver.arrived(1)
            pending = await _wait_log(api, tenant, hook["id"], status="pending", attempts=1)
        finally:
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
        assert process.returncode == -signal.SIGKILL
        assert (pending["status"], pending["attempts"], len(receiver.requests)) == ("pending", 1, 1)
        await _finish_with_new_container(api, tenant, settings, hook, receiver)
