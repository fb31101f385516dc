"""SMTP submission under concurrency, on both databases: messages arriving together share one
commit (services/submission.GroupCommit) and each caller gets its own email id; a commit that fails
fails every message of its group and stores none of them; clients that pipeline (RFC 2920, offered in
EHLO) over several connections get every reply in order, each 250 naming a ledger row."""

from __future__ import annotations

import asyncio
import base64

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from sendhouse.services import smtp_keys, submission, transactional
from sendhouse.smtpd.submission import submission_part
from sendhouse.store.schema.campaigns import messages
from tests.support.inbound_data import message
from tests.support.smtp_sink import free_port


async def _ledger(db) -> dict[str, dict]:
    async with db.read() as conn:
        return {r["id"]: dict(r) for r in (await conn.execute(sa.select(messages))).mappings()}


def _raw(n: int) -> bytes:
    return message(
        sender="app@shop.example.com",
        to=f"user{n}@example.org",
        subject=f"Order {n}",
        message_id=f"<order-{n}@shop.example.com>",
    )


def _recording(monkeypatch) -> list[int]:
    """The size of every group written (insert_prepared is called once per group, in its transaction)."""
    sizes, original = [], transactional.insert_prepared

    async def recorded(conn, prepared):
        sizes.append(sum(len(p.rows) for p in prepared))
        return await original(conn, prepared)

    monkeypatch.setattr(transactional, "insert_prepared", recorded)
    return sizes


async def _submit_together(api, tenant, group, count: int) -> list:
    return await asyncio.gather(
        *(
            submission.submit(
                api.db,
                api.container.settings,
                tenant.project_id,
                mail_from="app@shop.example.com",
                rcpts=[f"user{n}@example.org"],
                raw=_raw(n),
                group=group,
            )
            for n in range(count)
        ),
        return_exceptions=True,
    )


async def test_messages_arriving_together_share_one_commit(api, tenant, monkeypatch):
    sizes = _recording(monkeypatch)
    group = submission.GroupCommit(api.db, api.container.settings)
    ids = await _submit_together(api, tenant, group, 8)
    assert sizes == [8]  # all eight queued before the writer's first turn: one transaction
    stored = await _ledger(api.db)
    assert len(set(ids)) == 8 and set(ids) == set(stored)
    assert {stored[i]["email"]: stored[i]["message_id_header"] for i in ids} == {
        f"user{n}@example.org": f"<order-{n}@shop.example.com>" for n in range(8)
    }


async def test_the_next_commit_waits_for_the_callers_the_last_one_answered(api, tenant, monkeypatch):
    """After a commit of four, messages arriving one by one share the next commit once four are
    queued (up to LINGER); a lone message then goes alone after LINGER, and the next at once."""
    sizes = _recording(monkeypatch)
    monkeypatch.setattr(submission, "LINGER", 60.0)  # never reached: the fourth message ends the wait
    group = submission.GroupCommit(api.db, api.container.settings)
    await _submit_together(api, tenant, group, 4)
    one_by_one = []
    for _n in range(4):
        one_by_one.append(asyncio.create_task(_submit_together(api, tenant, group, 1)))
        await asyncio.sleep(0)
    await asyncio.gather(*one_by_one)
    monkeypatch.setattr(submission, "LINGER", 0.01)
    await _submit_together(api, tenant, group, 1)
    await _submit_together(api, tenant, group, 1)
    assert sizes == [4, 4, 1, 1]
    assert len(await _ledger(api.db)) == 10


async def test_a_failed_group_commit_fails_every_message_and_keeps_none(api, tenant, monkeypatch):
    original = transactional.insert_prepared

    async def queued_then_failing(conn, prepared):
        await original(conn, prepared)  # the rows are written, then the commit fails
        raise OperationalError("COMMIT", {}, Exception("database is down"))

    monkeypatch.setattr(transactional, "insert_prepared", queued_then_failing)
    group = submission.GroupCommit(api.db, api.container.settings)
    outcomes = await _submit_together(api, tenant, group, 5)
    assert all(isinstance(o, OperationalError) for o in outcomes)
    assert await _ledger(api.db) == {}
    monkeypatch.setattr(transactional, "insert_prepared", original)
    [later] = await _submit_together(api, tenant, group, 1)  # the group goes on after a failure
    assert set(await _ledger(api.db)) == {later}


@pytest.fixture
async def plain_server(container):
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        yield port


async def _reply(reader) -> str:
    lines = []
    while not lines or lines[-1][3:4] == "-":
        lines.append((await reader.readline()).decode())
    return "".join(lines)


async def _pipelined_session(port: int, key: str, numbers: list[int]) -> list[str]:
    """EHLO (PIPELINING must be offered), AUTH PLAIN on loopback, then every message's MAIL, RCPT
    and DATA in one write and its data with the next message's commands in the next: the replies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    writer.write(b"EHLO app.example.com\r\n")
    assert "250-PIPELINING" in await _reply(reader)
    writer.write(b"AUTH PLAIN " + base64.b64encode(b"\0autosend\0" + key.encode()) + b"\r\n")
    assert (await _reply(reader)).startswith("235")
    commands = [
        f"MAIL FROM:<app@shop.example.com>\r\nRCPT TO:<user{n}@example.org>\r\nDATA\r\n".encode()
        for n in numbers
    ]
    writer.write(commands[0])
    replies = []
    for i, n in enumerate(numbers):
        replies += [await _reply(reader) for _ in range(3)]
        writer.write(
            _raw(n).replace(b"\r\n.", b"\r\n..")
            + b"\r\n.\r\n"
            + (commands[i + 1] if i + 1 < len(numbers) else b"QUIT\r\n")
        )
        replies.append(await _reply(reader))
    replies.append(await _reply(reader))
    writer.close()
    return replies


async def test_pipelining_clients_on_several_connections_each_get_their_email_id(api, tenant, plain_server):
    key = (await smtp_keys.create_key(api.db, project_id=tenant.project_id))[1]
    sessions = [[c * 3 + i for i in range(3)] for c in range(4)]
    all_replies = await asyncio.gather(
        *(_pipelined_session(plain_server, key, numbers) for numbers in sessions)
    )
    stored = await _ledger(api.db)
    for numbers, replies in zip(sessions, all_replies, strict=True):
        assert [r[:3] for r in replies] == ["250", "250", "354", "250"] * len(numbers) + ["221"]
        ids = [r.split()[-1] for r in replies[3::4]]
        assert [stored[i]["message_id_header"] for i in ids] == [
            f"<order-{n}@shop.example.com>" for n in numbers
        ]
    assert len(stored) == 12
