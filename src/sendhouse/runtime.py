"""What runs beside the API inside `sendhouse serve`: the parts each area registers."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

# Each entry is (name, factory, needs_worker): factory(container) returns an async context manager.
PARTS: list[tuple[str, object, bool]] = []


def _webhook_dispatcher(container):
    from sendhouse.services.webhooks import dispatcher_part

    return dispatcher_part(container)


PARTS.append(("webhooks", _webhook_dispatcher, True))


def _delivery_worker(container):
    from sendhouse.worker import worker_part

    return worker_part(container)


def _campaign_scheduler(container):
    from sendhouse.scheduler import scheduler_part

    return scheduler_part(container)


PARTS.append(("worker", _delivery_worker, True))
PARTS.append(("scheduler", _campaign_scheduler, False))


def _inbound_smtp(container):
    """The bounce and complaint receiver, when SENDHOUSE_INBOUND_SMTP names host:port."""
    from sendhouse.delivery.inbound import inbound_part, switched_off

    return inbound_part(container) if container.settings.inbound_smtp else switched_off()


PARTS.append(("inbound", _inbound_smtp, False))


def _automation_runner(container):
    from sendhouse.automation_runner import automation_part

    return automation_part(container)


PARTS.append(("automations", _automation_runner, False))


def background_parts(*, with_worker: bool) -> list:
    """The factories to start with the server (worker parts only when with_worker)."""
    return [factory for _name, factory, needs_worker in PARTS if with_worker or not needs_worker]


@asynccontextmanager
async def running(loop, *, grace: float):
    """Run `loop.run()` as a task for the life of the block; on leaving, `loop.stop()` and wait for
    it up to `grace` seconds (the worker and the scheduler are run this way)."""
    task = asyncio.create_task(loop.run())
    try:
        yield loop
    finally:
        loop.stop()
        await asyncio.wait_for(task, timeout=grace)
