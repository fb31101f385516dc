"""The inbound receiver under abuse, on both databases: repeated RCPTs of one
address collapse, a report is parsed once and in a thread (not on the event loop), reports over
256 KB are refused with 552 before being buffered, connections and messages per client IP are
limited, and /healthz answers while the receiver is flooded (latency figures: bench/inbound_flood.py).
"""

from __future__ import annotations

import asyncio
import threading

import aiosmtplib
import pytest

from sendhouse.domain import bounces as bounce_rules
from sendhouse.smtpd.inbound import REPORT_MAX_BYTES, inbound_part
from sendhouse.smtpd.smtp_guard import ClientLimits
from tests.support.feedback_data import bounce_rcpt, events_of, row_status, sent_campaign, smtp_deliver
from tests.support.reports import dsn
from tests.support.smtp_sink import free_port


def padded(report: bytes, size: int) -> bytes:
    """The report with an X-Padding header block making it about `size` bytes."""
    pad = b"".join(b"X-Padding: " + b"a" * 900 + b"\r\n" for _ in range(max(0, size - len(report)) // 913))
    return pad + report


async def _receiver(container, limits: ClientLimits | None = None):
    port = free_port()
    return port, inbound_part(container, f"127.0.0.1:{port}", limits=limits)


async def test_repeated_rcpt_collapses_and_the_report_is_parsed_once_in_a_thread(
    api, tenant, container, monkeypatch
):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    row, calls = rows[0], []
    real = bounce_rules.parse_report

    def counting(raw):
        calls.append(threading.current_thread() is threading.main_thread())
        return real(raw)

    monkeypatch.setattr(bounce_rules, "parse_report", counting)
    rcpt = bounce_rcpt(row["id"])
    port, receiver = await _receiver(container)
    async with receiver:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        async with client:
            variants = [rcpt] * 5 + [rcpt.upper()] * 5
            refused, _reply = await client.sendmail("", variants, dsn(to=rcpt, recipient=row["email"]))
    assert refused == {}
    assert calls == [False]  # parsed once, and not on the event loop's (main) thread
    assert await row_status(api.db, row["id"]) == "bounced"
    assert len(await events_of(api.db, type="bounced")) == 1


async def test_a_report_over_the_cap_is_refused_with_552_and_one_under_it_is_accepted(api, tenant, container):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    big, small = rows
    port, receiver = await _receiver(container)
    async with receiver:
        report = dsn(to=bounce_rcpt(big["id"]), recipient=big["email"])
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await smtp_deliver(port, bounce_rcpt(big["id"]), padded(report, REPORT_MAX_BYTES + 4096))
        assert refused.value.code == 552
        report = dsn(to=bounce_rcpt(small["id"]), recipient=small["email"])
        await smtp_deliver(port, bounce_rcpt(small["id"]), padded(report, REPORT_MAX_BYTES - 8192))
    assert await row_status(api.db, big["id"]) == "sent"
    assert await row_status(api.db, small["id"]) == "bounced"


async def _greeting(port: int) -> tuple[bytes, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return await asyncio.wait_for(reader.readline(), 10), writer


async def test_connections_per_client_ip_are_limited_with_421(container):
    port, receiver = await _receiver(container, ClientLimits(max_connections=2, messages_per_minute=0))
    async with receiver:
        first, w1 = await _greeting(port)
        second, w2 = await _greeting(port)
        third, w3 = await _greeting(port)
        assert first.startswith(b"220") and second.startswith(b"220")
        assert third.startswith(b"421 4.7.0")
        w1.close()
        await w1.wait_closed()
        for _ in range(100):  # the freed slot is given to the next connection
            fourth, w4 = await _greeting(port)
            w4.close()
            if fourth.startswith(b"220"):
                break
            await asyncio.sleep(0.02)
        assert fourth.startswith(b"220")
        for writer in (w2, w3):
            writer.close()


async def test_messages_per_client_ip_are_limited_with_451(api, tenant, container):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 3)
    port, receiver = await _receiver(container, ClientLimits(max_connections=5, messages_per_minute=2))
    async with receiver:
        for row in rows[:2]:
            await smtp_deliver(
                port, bounce_rcpt(row["id"]), dsn(to=bounce_rcpt(row["id"]), recipient=row["email"])
            )
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await smtp_deliver(port, bounce_rcpt(rows[2]["id"]), dsn(to="x@y", recipient=rows[2]["email"]))
    assert refused.value.code == 451
    assert await row_status(api.db, rows[2]["id"]) == "sent"


async def _flood_client(port: int, rcpt: str, raw: bytes, messages: int) -> int:
    accepted = 0
    for _ in range(messages):
        try:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
            async with client:
                await client.sendmail("", [rcpt] * 10, raw)
            accepted += 1
        except aiosmtplib.SMTPException:
            pass
    return accepted


async def test_healthz_answers_while_the_receiver_is_flooded(api, tenant, container):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    rcpt = bounce_rcpt(rows[0]["id"])
    raw = padded(dsn(to=rcpt, recipient=rows[0]["email"]), REPORT_MAX_BYTES - 4096)
    port, receiver = await _receiver(container)
    async with receiver:
        flood = [asyncio.create_task(_flood_client(port, rcpt, raw, 4)) for _ in range(12)]
        answers = []
        while not all(task.done() for task in flood):
            answers.append((await api.client.get("/healthz")).status_code)
            await asyncio.sleep(0.01)
        accepted = sum(await asyncio.gather(*flood))
    assert accepted > 0 and len(answers) > 1
    assert set(answers) == {200}
