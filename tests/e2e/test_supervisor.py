"""`sendhouse serve` as a supervisor of a process per role, on SQLite and PostgreSQL: a worker child
killed with SIGKILL is started again and the campaign completes (every recipient at least once;
copies of one message share its Message-ID); SIGTERM during a send stops every child cleanly,
with every message the relay accepted recorded as sent, and a restart sends the rest exactly once;
a killed supervisor leaves no child behind; the first start happens once, in the parent; mail a
worker child signs with DKIM verifies with dkimpy against the published record; two API processes
taking 200 sends at once make 200 distinct rows (each forked child draws its own ids)."""

from __future__ import annotations

import asyncio
import os
import signal

import dkim
import httpx2
import sqlalchemy as sa

from sendhouse.services import domains as domain_service
from sendhouse.services import projects as project_service
from sendhouse.store import projects as project_store
from sendhouse.store import users as user_store
from sendhouse.store.schema.campaigns import messages
from tests.support.dns_server import DnsServer, publish
from tests.support.processes import Sendhouse, sendhouse_env, wait_until_up
from tests.support.sending_data import campaign_row, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink, free_port

RECIPIENTS = 1000
BEFORE_THE_SIGNAL = 300  # messages received before the kill or the SIGTERM


def _serve(settings, sink, port: int, **extra) -> Sendhouse:
    env = sendhouse_env(
        settings,
        **{
            "SENDHOUSE_SMTP_URL": sink.url,
            "SENDHOUSE_WORKERS": 1,
            "SENDHOUSE_LEASE_SECONDS": 2,
            "SENDHOUSE_SMTP_CONNECTIONS": 4,
            **extra,
        },
    )
    proc = Sendhouse(["serve", "--port", str(port)], env)
    wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


async def _campaign(container) -> str:
    project = await project_service.create_project(container.db, name="shop")
    return await start_campaign(container.db, project["id"], RECIPIENTS)


async def _ledger(container, campaign_id: str) -> dict[str, tuple[str, str]]:
    """email → (status, Message-ID) of every row of the campaign."""
    async with container.db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.email, messages.c.status, messages.c.message_id_header).where(
                messages.c.campaign_id == campaign_id
            )
        )
        return {r.email: (r.status, r.message_id_header) for r in rows}


def _received(sink, count: int):
    async def check() -> bool:
        return len(sink.messages) >= count

    return check


def _sent(container, campaign_id: str):
    async def check() -> bool:
        return (await campaign_row(container.db, campaign_id))["status"] == "sent"

    return check


def _children(proc: Sendhouse, role: str) -> list[int]:
    """Pids of the children of `role` the supervisor started, in order."""
    return [
        line["child_pid"]
        for line in proc.json_logs()
        if line["action"] == "child_started" and line["child_role"] == role
    ]


async def test_a_killed_worker_child_is_restarted_and_the_campaign_completes(settings, container):
    campaign_id = await _campaign(container)
    with SmtpSink() as sink:
        proc = _serve(settings, sink, free_port())
        try:
            await wait_for(_received(sink, BEFORE_THE_SIGNAL), timeout=60)
            [worker] = _children(proc, "worker")
            os.kill(worker, signal.SIGKILL)
            await wait_for(_sent(container, campaign_id), timeout=90, every=0.2)
        finally:
            code = proc.stop()
        ledger = await _ledger(container, campaign_id)
    exits = [line for line in proc.json_logs() if line["action"] == "child_exited"]
    assert [(e["child_role"], e["child_pid"], e["code"]) for e in exits] == [
        ("worker", worker, -signal.SIGKILL)
    ]
    assert len(_children(proc, "worker")) == 2 and _children(proc, "worker")[1] != worker
    assert code == 0, proc.tail()
    assert len(ledger) == RECIPIENTS and {status for status, _ in ledger.values()} == {"sent"}
    assert set(sink.recipients()) == set(ledger)  # everyone got at least one copy, nobody unknown
    for message in sink.messages:  # a copy sent again after the kill carries its row's Message-ID
        assert message.message_id == ledger[message.rcpt_to[0]][1]


async def test_sigterm_during_a_send_loses_nothing(settings, container):
    campaign_id = await _campaign(container)
    port = free_port()
    with SmtpSink() as sink:
        proc = _serve(settings, sink, port)
        try:
            await wait_for(_received(sink, BEFORE_THE_SIGNAL), timeout=60)
        finally:
            code = proc.stop(grace=60)
        children = _children(proc, "api") + _children(proc, "worker")
        at_stop, received = await _ledger(container, campaign_id), sink.recipients()
        again = _serve(settings, sink, port)
        try:
            await wait_for(_sent(container, campaign_id), timeout=90, every=0.2)
        finally:
            again.stop()
        ledger = await _ledger(container, campaign_id)
    assert code == 0 and len(children) == 2, proc.tail()
    assert not [line for line in proc.json_logs() if line["action"] in ("child_exited", "child_killed")]
    assert "sending" not in {status for status, _ in at_stop.values()}
    assert {email for email, (status, _) in at_stop.items() if status == "sent"} == set(received)
    assert {status for status, _ in ledger.values()} == {"sent"} and len(ledger) == RECIPIENTS
    assert set(sink.recipients().values()) == {1} and set(sink.recipients()) == set(ledger)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its reaper."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


async def test_a_killed_supervisor_leaves_no_child_behind(settings):
    with SmtpSink() as sink:
        proc = _serve(settings, sink, free_port())
        children = _children(proc, "api") + _children(proc, "worker")
        proc.proc.kill()
        proc.proc.wait(timeout=10)

        async def all_gone() -> bool:
            return not any(_alive(pid) for pid in children)

        await wait_for(all_gone, timeout=30, every=0.1)
    assert len(children) == 2


async def test_first_start_happens_once_in_the_parent_whatever_the_children(settings, container):
    env = sendhouse_env(settings, SENDHOUSE_WORKERS=2, SENDHOUSE_API_PROCESSES=2)
    outputs = []
    for _ in range(2):
        port = free_port()
        proc = Sendhouse(["serve", "--port", str(port)], env)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        finally:
            assert proc.stop() == 0
        outputs.append("".join(proc.out))
        assert [line["child_role"] for line in proc.json_logs() if line["action"] == "child_started"] == [
            "api",
            "api",
            "worker",
            "worker",
        ]
        assert not [line for line in proc.json_logs() if line["action"] == "child_exited"]
    first, second = outputs
    assert sum(line.startswith("AS_") for line in first.splitlines()) == 1 and "password:" in first
    assert "AS_" not in second and "password:" not in second
    async with container.db.read() as conn:
        assert [p["name"] for p in await project_store.list_projects(conn)] == ["default"]
        assert await user_store.count_users(conn) == 1


async def test_mail_signed_in_a_worker_child_verifies_with_dkimpy(settings, container):
    project = await project_service.create_project(container.db, name="signed")
    with DnsServer() as dns_server, SmtpSink() as sink:
        settings = settings.model_copy(update={"dns_resolver": dns_server.address})
        added = await domain_service.add_domain(container.db, settings, project["id"], domain="example.com")
        publish(dns_server, added["dnsRecords"])
        verified = await domain_service.verify_domain(container.db, settings, project["id"], added["id"])
        assert verified["dkimEnabled"] is True, verified
        record = added["dnsRecords"]["dkim"]["value"].encode()
        campaign_id = await start_campaign(container.db, project["id"], 20)
        proc = _serve(settings, sink, free_port(), SENDHOUSE_WORKERS=2)
        try:
            await wait_for(_sent(container, campaign_id), timeout=60, every=0.2)
        finally:
            proc.stop()
    signers = {line["pid"] for line in proc.json_logs() if line.get("role") == "worker"}
    assert signers and os.getpid() not in signers and len(sink.messages) == 20
    for message in sink.messages:
        assert (
            message.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
            and b"d=example.com;" in message.data
        )
        assert dkim.verify(message.data, dnsfunc=lambda name, timeout=5: record)


def _niceness(pid: int) -> int:
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[16])


async def test_beside_workers_the_api_processes_yield_the_cpu_to_delivery(settings):
    """An api process of `serve` runs API_NICENESS steps nicer than its workers; with --no-worker
    (nothing to yield to) at the supervisor's own priority."""
    from sendhouse.supervisor import API_NICENESS

    found = {}
    for args in (["serve"], ["serve", "--no-worker"]):
        port = free_port()
        proc = Sendhouse([*args, "--port", str(port)], sendhouse_env(settings, SENDHOUSE_WORKERS=1))
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
            found[len(args)] = (
                [_niceness(pid) for pid in _children(proc, "api")],
                [_niceness(pid) for pid in _children(proc, "worker")],
                _niceness(proc.pid),
            )
        finally:
            assert proc.stop() == 0
    (api, workers, parent), (alone, none, parent_alone) = found[1], found[2]
    assert api == [parent + API_NICENESS] and workers == [parent]
    assert alone == [parent_alone] and none == []


async def test_two_api_processes_taking_200_sends_at_once_make_200_distinct_rows(settings, container):
    """Every api process of a `serve` forks from one parent: each must still make ids of its own
    (they collided before, and every send after the first of a second in the other process failed)."""
    project = await project_service.create_project(container.db, name="busy")
    _, key = await project_service.create_api_key(container.db, project_id=project["id"])
    port = free_port()
    env = sendhouse_env(settings, SENDHOUSE_API_PROCESSES=2, SENDHOUSE_RATE_LIMIT=100_000)
    proc = Sendhouse(["serve", "--no-worker", "--port", str(port)], env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=0)
        async with httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, limits=limits
        ) as client:
            sent = await asyncio.gather(
                *(client.post("/v1/mails/send", json=_mail(n), timeout=60) for n in range(200))
            )
    finally:
        assert proc.stop() == 0
    assert sorted({r.status_code for r in sent}) == [200], [r.text for r in sent if r.status_code != 200][:3]
    async with container.db.read() as conn:
        rows = (await conn.execute(sa.select(messages.c.id, messages.c.email))).all()
    assert len(rows) == 200 and len({r.email for r in rows}) == 200
    assert len(_children_started(proc, "api")) == 2


def _mail(n: int) -> dict:
    return {
        "from": {"email": "app@example.com"},
        "to": {"email": f"u{n}@example.org"},
        "subject": "Hi",
        "html": "<p>x</p>",
    }


def _children_started(proc: Sendhouse, role: str) -> list[int]:
    return [
        line["child_pid"]
        for line in proc.json_logs()
        if line["action"] == "child_started" and line["child_role"] == role
    ]
