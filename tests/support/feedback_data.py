"""Helpers for feedback-loop tests: campaigns whose ledger rows are already sent, signed tracking
URLs for their rows, webhook subscriptions and the deliveries stored for them, an inbound
receiver on a free port, and reading events and suppressions back."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

import aiosmtplib
import orjson
import sqlalchemy as sa

from sendhouse.domain import tokens
from sendhouse.domain.times import utcnow
from sendhouse.services import webhooks as webhook_service
from sendhouse.smtpd.inbound import inbound_part
from sendhouse.store import ledger
from sendhouse.store.schema.audience import suppression_groups, suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events
from sendhouse.store.schema.webhooks import webhook_deliveries
from tests.support.sending_data import start_campaign
from tests.support.smtp_sink import free_port

SECRET = "test-secret-key"  # the `settings` fixture's secret_key


async def sent_campaign(
    db, project_id: str, size: int, *, ago: float = 60.0, queued=(), leased=(), **fields
) -> tuple[str, list[dict]]:
    """A started campaign whose rows (in email order) were all accepted by the relay `ago` seconds
    ago, recorded through the ledger (so its counters are kept), except those at the `queued`
    positions (left queued) and the `leased` ones (sending, leased to worker "w1")."""
    campaign_id = await start_campaign(db, project_id, size, **fields)
    at = utcnow() - timedelta(seconds=ago)
    mine = messages.c.campaign_id == campaign_id
    async with db.write() as conn:
        row_ids = list(
            (await conn.execute(sa.select(messages.c.id).where(mine).order_by(messages.c.email))).scalars()
        )
        await ledger.mark_sent(
            conn,
            [
                {"row_id": row_id, "response": "250 OK"}
                for i, row_id in enumerate(row_ids)
                if i not in (*queued, *leased)
            ],
            at,
        )
        held = [row_ids[i] for i in leased]
        await conn.execute(
            messages.update().where(messages.c.id.in_(held)).values(status="sending", lease_owner="w1")
        )
        rows = (
            (await conn.execute(sa.select(messages).where(mine).order_by(messages.c.email))).mappings().all()
        )
    return campaign_id, [dict(r) for r in rows]


def open_path(row_id: str, secret: str = SECRET) -> str:
    return tokens.OPEN_PATH + tokens.sign_open(secret, row_id)


def click_path(row_id: str, url: str, secret: str = SECRET) -> str:
    return tokens.CLICK_PATH + tokens.sign_click(secret, row_id, url)


def target_of(row: dict, group: str | None = None) -> tokens.UnsubscribeTarget:
    return tokens.UnsubscribeTarget(row["project_id"], row["email"], group, row["id"])


def unsubscribe_path(row: dict, group: str | None = None) -> str:
    return tokens.UNSUBSCRIBE_PATH + tokens.sign_unsubscribe(SECRET, target_of(row, group))


def preference_path(row: dict, group: str | None = None) -> str:
    return tokens.PREFERENCE_PATH + tokens.sign_preference(SECRET, target_of(row, group))


async def subscribe_all(db, project_id: str) -> str:
    """A webhook of the project subscribed to every email event (deliveries stay stored: no dispatcher)."""
    hook = await webhook_service.create_webhook(
        db,
        project_id,
        url="http://127.0.0.1:9/hook",
        events=list(webhook_service.rules.EMAIL_EVENTS + webhook_service.rules.SUBSCRIPTION_EVENTS),
    )
    return hook["id"]


async def deliveries(db, project_id: str) -> list[tuple[str, dict]]:
    """(event, data) of every stored webhook delivery of the project, oldest first."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(webhook_deliveries.c.event, webhook_deliveries.c.payload)
                .where(webhook_deliveries.c.project_id == project_id)
                .order_by(webhook_deliveries.c.created_at, webhook_deliveries.c.id)
            )
        ).all()
    return [(event, orjson.loads(payload)["data"]) for event, payload in rows]


async def events_of(db, **where) -> list[dict]:
    query = sa.select(message_events).where(*(message_events.c[k] == v for k, v in where.items()))
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(query.order_by(message_events.c.created_at))).mappings()]


async def suppressed(db, project_id: str) -> set[tuple[str, str, str]]:
    """{(email, group code, reason)} of the project."""
    joined = suppressions.join(suppression_groups, suppression_groups.c.id == suppressions.c.group_id)
    query = (
        sa.select(suppressions.c.email, suppression_groups.c.group_code, suppressions.c.reason)
        .select_from(joined)
        .where(suppressions.c.project_id == project_id)
    )
    async with db.read() as conn:
        return {tuple(r) for r in (await conn.execute(query)).all()}


async def row_status(db, row_id: str) -> str:
    async with db.read() as conn:
        return (await conn.execute(sa.select(messages.c.status).where(messages.c.id == row_id))).scalar_one()


@asynccontextmanager
async def inbound_receiver(container):
    """The inbound SMTP receiver on a free local port; yields (host, port)."""
    port = free_port()
    async with inbound_part(container, f"127.0.0.1:{port}"):
        yield "127.0.0.1", port


async def smtp_deliver(port: int, rcpt: str, raw: bytes, *, sender: str = "") -> None:
    """Deliver `raw` over SMTP with the null return path, as an MTA returns bounces."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, use_tls=False, timeout=30)
    async with client:
        await client.sendmail(sender, [rcpt], raw)


def bounce_rcpt(row_id: str, domain: str = "sendhouse.test") -> str:
    return tokens.bounce_address(SECRET, row_id, domain)


def unsubscribe_rcpt(row_id: str, domain: str = "sendhouse.test") -> str:
    return tokens.unsubscribe_address(SECRET, row_id, domain)
