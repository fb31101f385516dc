"""The webhook dispatcher is a bounded, fair pool, on both databases: an endpoint that drips its
answer a byte at a time holds only its own deliveries (another project's delivery goes out while
the slow ones are still in progress, at most PER_WEBHOOK of them at once), and every attempt has a
total deadline however steadily bytes keep coming. Ordering of events, not timings, is asserted."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

from sendhouse.services import webhooks as service
from sendhouse.store.webhooks import Capacity, choose_fairly
from tests.integration.test_webhooks_delivery import create, emit, logs
from tests.support.drip_server import DripServer
from tests.support.http_receiver import HttpReceiver

SLOW_EVENTS = 25  # more than the old batch of 20


async def _statuses(api, tenant, hook_id: str) -> Counter:
    return Counter(entry["status"] for entry in await logs(api, tenant, hook_id))


async def _until(check, what: str, timeout: float = 60.0) -> None:
    """Poll (bounded) until `check()` is true; the bound only turns a hang into a failure."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_a_slow_endpoint_does_not_hold_back_another_projects_delivery(api, tenant, other_tenant):
    patient = api.container.settings.model_copy(update={"webhook_timeout": 300.0})
    container = SimpleNamespace(settings=patient, db=api.db)
    with DripServer() as slow, HttpReceiver() as fast:
        slow_hook = await create(api, tenant, slow.url())
        fast_hook = await create(api, other_tenant, fast.url())
        for n in range(SLOW_EVENTS):
            await emit(api, tenant, data={"contactId": f"c{n}", "email": f"s{n}@example.com"})
        await emit(api, other_tenant)
        async with service.dispatcher_part(container, poll_interval=0.05):
            await _until(lambda: _has(api, other_tenant, fast_hook["id"], "succeeded", 1), "fast delivered")
            assert slow.started >= 1 and slow.finished == 0 and slow.in_progress >= 1
            assert (await _statuses(api, tenant, slow_hook["id"]))["succeeded"] == 0
            slow.release()
            await _until(
                lambda: _has(api, tenant, slow_hook["id"], "succeeded", SLOW_EVENTS), "slow delivered"
            )
    assert len(fast.requests) == 1 and slow.finished == SLOW_EVENTS
    assert 1 <= slow.max_in_progress <= service.PER_WEBHOOK


async def _has(api, tenant, hook_id: str, status: str, count: int) -> bool:
    return (await _statuses(api, tenant, hook_id))[status] >= count


async def test_an_attempt_has_a_total_deadline(api, tenant):
    with DripServer(every=0.05) as slow:
        hook = await create(api, tenant, slow.url())
        await emit(api, tenant)
        dispatcher = service.Dispatcher(api.db, allow_private=True, retry_schedule="5", timeout=1.0)
        async with asyncio.timeout(120):  # a bound on the test only: the deadline is what ends the attempt
            assert await dispatcher.run_once() == 1
        await dispatcher.close()
        assert slow.finished == 0
    [entry] = await logs(api, tenant, hook["id"])
    assert (entry["status"], entry["attempts"]) == ("pending", 1)
    assert entry["errorMessage"] == "no complete answer within 1 s"


def _rows(project: str, webhook: str, count: int) -> list[dict]:
    return [{"id": f"{webhook}-{n}", "project_id": project, "webhook_id": webhook} for n in range(count)]


def test_claims_go_round_robin_across_projects_within_the_caps():
    candidates = _rows("A", "a1", 4) + _rows("A", "a2", 4) + _rows("B", "b1", 1) + _rows("C", "c1", 2)
    chosen = choose_fairly(candidates, Capacity(limit=4, per_webhook=4, per_project=8))
    assert [c.split("-")[0] for c in chosen] == ["a1", "b1", "c1", "a1"]
    busy = Capacity(limit=20, per_webhook=4, per_project=5, webhooks_busy={"a1": 3}, projects_busy={"A": 3})
    chosen = choose_fairly(candidates, busy)
    assert Counter(c.split("-")[0] for c in chosen) == {"a1": 1, "a2": 1, "b1": 1, "c1": 2}
