"""The one table of background duties, the roles that own them, and the one way to start them.

A *role* is a kind of process: `api` (the HTTP side: API, tracking, dashboard, MCP) or `worker`
(the delivery side). Every duty is owned by exactly one role (DUTIES). Each command runs a set of
roles (COMMANDS) and each documented deployment is a set of commands (DEPLOYMENTS), so every duty
runs in exactly one role of every deployment (tests/unit/test_roles.py checks it):

| duty | role | processes of the role that run it | why there |
|---|---|---|---|
| delivery | worker | every one | the point of a worker process |
| housekeeping | worker | one | expired leases and due deferred rows back to queued, inbound mail left PROCESSING processed again (conditional UPDATEs) |
| scheduler | worker | one | one leader by advisory lock on PostgreSQL; its transitions are conditional UPDATEs |
| automation runs | worker | one | claims runs with a lease (safe on many hosts); email steps become ledger rows |
| webhook dispatch | worker | one | claims rows with a lease; posting to slow receivers stays off the HTTP side |
| inbound receiver | api | one | a listener like HTTP (the bounce domain's MX); binds its port once |
| SMTP submission | api | one | the authenticated submission listener for apps (idle unless SENDHOUSE_SUBMISSION_SMTP[S] is set) |

"One" means: when `serve` starts several processes of the role, only the first runs the duty.
Separately started processes of a role (`sendhouse worker` on many hosts, `serve --no-worker`
replicas) each run all of the role's duties; "one" duties are safe there as said above (SQLite
keeps to one host, whose writes are serialised anyway).

A duty's `start` names "module:function"; function(container) returns an async context manager
that runs the duty for the life of the block (imported lazily, so this table imports nothing heavy).
A new duty is one line in DUTIES.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sendhouse.observability import event
from sendhouse.runtime import running

log = logging.getLogger("sendhouse.roles")
API, WORKER = "api", "worker"
ROLES = (API, WORKER)
DELIVERY_GRACE = 15.0  # seconds the worker gets to finish and record its in-flight messages


@dataclass(frozen=True)
class Duty:
    """A background duty: its name, the role that owns it, how to start it, where it runs."""

    name: str
    role: str
    start: str  # "module:function"; function(container) -> async context manager
    once: bool = True  # run by one process of the role; False: by every process of the role
    setting: str = ""  # the setting that switches the duty on (empty: always on)


DUTIES: tuple[Duty, ...] = (
    Duty("delivery", WORKER, "sendhouse.roles:delivery_part", once=False),
    Duty("housekeeping", WORKER, "sendhouse.housekeeping:housekeeping_part"),
    Duty("scheduler", WORKER, "sendhouse.scheduler:scheduler_part"),
    Duty("webhook dispatch", WORKER, "sendhouse.services.webhooks:dispatcher_part"),
    Duty("automation runs", WORKER, "sendhouse.automation_runner:automation_part"),
    Duty("inbound receiver", API, "sendhouse.smtpd.inbound:inbound_part", setting="inbound_smtp"),
    Duty("SMTP submission", API, "sendhouse.smtpd.submission:submission_duty"),
)

# The roles each command runs, and the commands of each documented deployment.
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": (API, WORKER),
    "serve --no-worker": (API,),
    "worker": (WORKER,),
}
DEPLOYMENTS: dict[str, tuple[str, ...]] = {
    "one machine": ("serve",),
    "scale-out": ("serve --no-worker", "worker"),
}


def delivery_part(container):
    """The delivery duty: one Worker until the block ends (it then finishes its in-flight mail)."""
    from sendhouse.worker import Worker

    return running(Worker(container), grace=DELIVERY_GRACE)


def duties_for(roles: Iterable[str], settings, *, first: bool = True, skip: Iterable[str] = ()) -> list[Duty]:
    """The duties a process running `roles` starts: `first` is whether it is the first process of its
    roles (the one that runs the `once` duties); `skip` names duties left out on purpose."""
    roles, skip = set(roles), set(skip)
    return [
        duty
        for duty in DUTIES
        if duty.role in roles
        and duty.name not in skip
        and (first or not duty.once)
        and (not duty.setting or getattr(settings, duty.setting))
    ]


def preload() -> None:
    """Import the code of every role now (a supervisor does, so the children it forks start fast)."""
    import uvicorn  # noqa: F401 - the api role's server

    import sendhouse.app  # noqa: F401 - the api role's code

    for duty in DUTIES:
        _factory(duty)


def _factory(duty: Duty):
    module, _, attr = duty.start.partition(":")
    return getattr(importlib.import_module(module), attr)


@asynccontextmanager
async def start_duties(container, roles: Iterable[str], *, first: bool = True, skip: Iterable[str] = ()):
    """The one way every command starts its background work: the duties of `roles` (duties_for) run
    for the life of the block, stopped in reverse order on leaving. Yields the tasks of the duties
    that are loops: one that finishes before the block ends means that duty died."""
    watched: list[asyncio.Task] = []
    async with AsyncExitStack() as stack:
        for duty in duties_for(roles, container.settings, first=first, skip=skip):
            handle = await stack.enter_async_context(_factory(duty)(container))
            if isinstance(handle, asyncio.Task):
                watched.append(handle)
            event(log, "duty_started", duty=duty.name, duty_role=duty.role)
        yield watched


async def run_duties(container, roles: Iterable[str], *, first: bool = True, skip: Iterable[str] = ()) -> int:
    """A process of duties only (`sendhouse worker`): runs them until SIGTERM or SIGINT (0) or until
    one of them dies (1, so a supervisor restarts the process). Closes the container."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with start_duties(container, roles, first=first, skip=skip) as watched:
            return await _until_stopped(stop, watched)
    finally:
        await container.close()


async def _until_stopped(stop: asyncio.Event, watched: list[asyncio.Task]) -> int:
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *watched], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if stop.is_set():
        return 0
    dead = [task.get_name() for task in watched if task.done()]
    log.error(
        "a duty ended on its own (%s); stopping the process", ", ".join(dead), extra={"action": "duty_died"}
    )
    return 1
