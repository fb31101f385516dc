"""The campaign counters (store/counters.py) equal a recount of the ledger and its events after
real sends, on SQLite and PostgreSQL: a worker sending to a relay that refuses, defers and then
accepts; opens, clicks, bounce and complaint reports, unsubscribes over HTTP; an abort in the middle
of a send; two transactions racing to record one recipient's first open (PostgreSQL); and the
backfill of the migration that added them. Each test also checks a few counters by value, so a
counter that stayed at zero next to a recount of zero cannot pass unnoticed."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from sendhouse.config import Settings
from sendhouse.domain import ids
from sendhouse.domain.fates import Opened
from sendhouse.domain.times import utcnow
from sendhouse.services import feedback
from sendhouse.store import counters, events, ledger
from sendhouse.store.schema.campaigns import messages
from tests.support.feedback_data import click_path, open_path, sent_campaign, unsubscribe_path
from tests.support.sending_data import campaign_row, container_for, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink

INBOUND = "/v1/inbound/bounce"


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    """The shared settings with every open counted as a person's (no automated-open window)."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key",
        rate_limit=100000,
        public_url="http://sendhouse.test",
        send_now_delay=120,
        webhook_allow_private=True,
        automated_open_window=0,
    )


async def _both(db, campaign_id: str) -> tuple[dict, dict]:
    async with db.read() as conn:
        return (await counters.read(conn, [campaign_id]))[campaign_id], (
            await counters.recount(conn, [campaign_id])
        )[campaign_id]


async def _rows(db, campaign_id: str) -> dict[str, dict]:
    async with db.read() as conn:
        found = await conn.execute(sa.select(messages).where(messages.c.campaign_id == campaign_id))
        return {r["email"].split("@")[0]: dict(r) for r in found.mappings()}


def _relay_reply():
    """user1 refused (550); user2 deferred twice, then accepted; user3 deferred until it fails."""
    tries = {"user2": 0}

    def reply(address: str) -> str | None:
        local = address.split("@")[0]
        if local == "user1":
            return "550 5.1.1 no such user"
        if local == "user3":
            return "451 4.3.0 try later"
        if local == "user2" and tries["user2"] < 2:
            tries["user2"] += 1
            return "451 4.3.0 try later"
        return None

    return reply


async def _feedback_over_http(api, tenant, rows: dict[str, dict]) -> None:
    """Opens (user0 twice, user4, user5), clicks (user0, user4), a bounce reported for a delivered
    row (user6), for the refused row again (user1) and for the row that failed after retries (user3),
    a complaint (user7), an unsubscribe (user8)."""
    for name in ("user0", "user0", "user4", "user5"):
        await api.client.get(open_path(rows[name]["id"]))
    for name in ("user0", "user4"):
        await api.client.get(click_path(rows[name]["id"], "https://example.com/a"))
    await api.app.state.tracking.recorder.flush()
    for name, kind in (("user6", "hard"), ("user1", "hard"), ("user3", "hard"), ("user7", "complaint")):
        body = {"emailId": rows[name]["id"], "email": rows[name]["email"], "type": kind}
        assert (await api.client.post(INBOUND, json=body, headers=tenant.headers)).status_code == 200
    await api.client.post(unsubscribe_path(rows["user8"]), data={"List-Unsubscribe": "One-Click"})


async def test_counters_equal_the_ledger_after_a_send_with_refusals_retries_and_feedback(
    api, tenant, settings
):
    with SmtpSink(rcpt_reply=_relay_reply()) as sink:
        container = container_for(settings, smtp_url=sink.url, retry_base_seconds=0, max_attempts=3)
        try:
            cid = await start_campaign(container.db, tenant.project_id, 12)
            async with running(container):
                await wait_for(lambda: _finished(container, cid))
        finally:
            await container.close()
    rows = await _rows(api.db, cid)
    assert (rows["user1"]["status"], rows["user2"]["status"], rows["user3"]["status"]) == (
        "failed",
        "sent",
        "failed",
    )
    await _feedback_over_http(api, tenant, rows)
    async with (
        api.db.write() as conn
    ):  # an automated open of a row a person opened too, and of one nobody did
        row = await events.message_row(conn, rows["user4"]["id"])
        other = await events.message_row(conn, rows["user9"]["id"])
        await feedback.record(
            conn,
            [Opened(row, when=utcnow(), automated=True), Opened(other, when=utcnow(), automated=True)],
            now=utcnow(),
        )
    kept, truth = await _both(api.db, cid)
    assert kept == truth
    assert (kept["ledger_rows"], kept["ledger_sent"], kept["ledger_bounced"], kept["ledger_failed"]) == (
        12,
        9,
        1,
        2,
    )
    assert (kept["opened"], kept["human_opened"], kept["clicked"]) == (4, 3, 2)
    assert (kept["bounced"], kept["failed_bounced"], kept["complained"], kept["unsubscribed"]) == (3, 2, 1, 1)
    metrics = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]["metrics"]
    assert (metrics["sent"], metrics["delivered"], metrics["bounced"], metrics["failedCount"]) == (
        12,
        9,
        3,
        0,
    )


async def _finished(container, cid: str) -> bool:
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def test_counters_equal_the_ledger_after_an_abort_in_the_middle_of_a_send(api, tenant, settings):
    with SmtpSink(data_delay=0.02) as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=3)
        try:
            cid = await start_campaign(container.db, tenant.project_id, 300)
            async with running(container):
                await wait_for(lambda: _received(sink, 20))
                response = await api.client.post(f"/v1/campaigns/{cid}/abort", headers=tenant.headers)
                assert response.status_code == 200, response.text
                await wait_for(lambda: _settled(container, cid))
        finally:
            await container.close()
    kept, truth = await _both(api.db, cid)
    assert kept == truth
    assert kept["ledger_sent"] == len(sink.messages) and kept["ledger_sent"] + kept["ledger_cancelled"] == 300
    assert 20 <= kept["ledger_sent"] < 300 and counters.pending(kept) == 0


async def _received(sink, n: int) -> bool:
    return len(sink.messages) >= n


async def _settled(container, cid: str) -> bool:
    """Nothing of the campaign is queued, sending or deferred any more."""
    async with container.db.read() as conn:
        query = sa.select(sa.func.count()).where(
            messages.c.campaign_id == cid, messages.c.status.in_(("queued", "sending", "deferred"))
        )
        return (await conn.execute(query)).scalar_one() == 0


async def test_an_abort_cancels_into_the_counters_and_a_later_bounce_moves_sent_to_bounced(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 6, queued=[3, 4], leased=[5])
    assert (await api.client.post(f"/v1/campaigns/{cid}/abort", headers=tenant.headers)).status_code == 200
    async with api.db.write() as conn:  # the worker gives back the row it held, as it does after an abort
        await ledger.release(conn, [rows[5]["id"]], status="queued", now=utcnow(), worker="w1")
        await ledger.mark_bounced(conn, [rows[0]["id"], rows[3]["id"]], utcnow())  # row 3 was never sent
    kept, truth = await _both(api.db, cid)
    assert kept == truth
    assert (
        kept["ledger_sent"],
        kept["ledger_bounced"],
        kept["ledger_cancelled"],
        counters.pending(kept),
    ) == (2, 1, 3, 0)


async def test_two_transactions_recording_one_first_open_count_it_once(api, tenant, db_kind):
    """The second transaction judges the recipient's first open only once the first has committed
    (the counter row lock taken before judging); here it is made to wait for that lock."""
    if db_kind != "postgres":
        pytest.skip("SQLite has one writer: two write transactions never overlap")
    cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    first, second = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with api.db.write() as conn:
            await conn.execute(
                sa.text("SELECT 1 FROM campaign_counters WHERE campaign_id = :c FOR UPDATE"), {"c": cid}
            )
            await events.insert_events(conn, [_open(rows[0])])
            first.set()
            await second.wait()

    async def racer() -> None:
        await first.wait()
        async with api.db.write() as conn:
            await events.insert_events(conn, [_open(rows[0])])

    task = asyncio.create_task(holder())
    racing = asyncio.create_task(racer())
    await wait_for(lambda: _someone_waits_on_a_lock(api.db))
    second.set()
    await asyncio.gather(task, racing)
    kept, truth = await _both(api.db, cid)
    assert kept == truth and kept["opened"] == 1 and kept["human_opened"] == 1


def _open(row: dict) -> dict:
    return {
        "id": ids.new_id(),
        "project_id": row["project_id"],
        "message_id": row["id"],
        "campaign_id": row["campaign_id"],
        "email": row["email"],
        "type": "opened",
        "url": None,
        "is_automated": False,
        "detail": {},
        "created_at": utcnow(),
    }


async def _someone_waits_on_a_lock(db) -> bool:
    async with db.read() as conn:
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return (await conn.execute(query)).scalar_one() > 0


async def test_the_migration_backfills_the_counters_of_existing_campaigns(api, tenant, db_url):
    from alembic import command

    from sendhouse.store.migrate import alembic_config, upgrade_to_head

    cid, rows = await sent_campaign(api.db, tenant.project_id, 5, queued=[4])
    async with api.db.write() as conn:
        await ledger.mark_bounced(conn, [rows[0]["id"]], utcnow())
        await events.insert_events(conn, [_open(rows[1]), _open(rows[1]), _open(rows[2])])
    expected, _truth = await _both(api.db, cid)
    await api.db.close()  # no pooled connection in the way of the schema change
    command.downgrade(alembic_config(db_url), "0010_health")
    upgrade_to_head(db_url)
    kept, truth = await _both(api.db, cid)
    assert kept == truth == expected
    assert (kept["ledger_rows"], kept["ledger_sent"], kept["ledger_bounced"], kept["opened"]) == (5, 3, 1, 2)
