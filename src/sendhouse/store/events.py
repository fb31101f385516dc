"""Queries on `message_events` (opens, clicks, bounces, complaints, unsubscribes) and the ledger
rows they belong to: inserting events, the per-campaign feedback counts the metrics are derived
from, one message's lifecycle times, soft bounces per address and the rate basis of auto-pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.audience import suppression_groups, suppressions
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.store.schema.feedback import message_events as ev

ROW_COLUMNS = (messages.c.id, messages.c.project_id, messages.c.campaign_id, messages.c.batch_id, messages.c.kind,
               messages.c.email, messages.c.name, messages.c.status, messages.c.sent_at, messages.c.failed_at,
               messages.c.message_id_header)
FEEDBACK_TYPES = ("opened", "clicked", "bounced", "complained", "unsubscribed")
COUNT_NAMES = {"opened": "opened", "clicked": "clicked", "bounced": "bounced", "complained": "spamReported",
               "unsubscribed": "unsubscribed"}


async def message_rows(conn: AsyncConnection, row_ids: Sequence[str]) -> dict[str, dict]:
    """Ledger rows (without their payload) by id; unknown ids are left out."""
    if not row_ids:
        return {}
    query = sa.select(*ROW_COLUMNS).where(messages.c.id.in_(sorted(set(row_ids))))
    return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def message_row(conn: AsyncConnection, row_id: str, project_id: str | None = None) -> dict | None:
    """One ledger row (of the project, when given), or None."""
    found = (await message_rows(conn, [row_id])).get(row_id)
    if found is None or (project_id is not None and found["project_id"] != project_id):
        return None
    return found


async def payload_of(conn: AsyncConnection, row_id: str) -> dict:
    query = sa.select(messages.c.payload).where(messages.c.id == row_id)
    return (await conn.execute(query)).scalar_one_or_none() or {}


async def campaign_context(conn: AsyncConnection, campaign_id: str) -> dict | None:
    """What webhook payloads and unsubscribes need of a campaign."""
    query = sa.select(campaigns.c.id, campaigns.c.from_email, campaigns.c.from_name, campaigns.c.subject,
                      campaigns.c.template_id, campaigns.c.unsubscribe_group_id, campaigns.c.threshold_preset,
                      campaigns.c.status).where(campaigns.c.id == campaign_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def insert_events(conn: AsyncConnection, rows: list[dict]) -> None:
    if rows:
        await conn.execute(ev.insert(), rows)


async def has_event(conn: AsyncConnection, row_id: str, event_type: str) -> bool:
    query = sa.select(ev.c.id).where(ev.c.message_id == row_id, ev.c.type == event_type).limit(1)
    return (await conn.execute(query)).first() is not None


async def soft_bounces_of(conn: AsyncConnection, project_id: str, email: str) -> int:
    query = sa.select(sa.func.count()).where(ev.c.project_id == project_id, ev.c.email == email,
                                             ev.c.type == "soft_bounced")
    return (await conn.execute(query)).scalar_one()


def _counted(part: str, key, count, *where, join: bool = False) -> sa.Select:
    """One branch of the counts UNION: (campaign_id, part, key, n)."""
    query = sa.select(ev.c.campaign_id.label("campaign_id"), sa.literal(part, sa.String).label("part"),
                      key.label("key"), count.label("n"))
    if join:
        query = query.select_from(ev.join(messages, messages.c.id == ev.c.message_id))
    return query.where(*where).group_by(ev.c.campaign_id, key)


def _feedback_branches(campaign_ids) -> list[sa.Select]:
    mine, recipients = ev.c.campaign_id.in_(campaign_ids), sa.func.count(sa.distinct(ev.c.message_id))
    return [
        _counted("feedback", ev.c.type, recipients, mine, ev.c.type.in_(FEEDBACK_TYPES)),
        _counted("human", ev.c.type, recipients, mine, ev.c.type == "opened", ev.c.is_automated.is_(False)),
        _counted("refused", ev.c.type, recipients, mine, ev.c.type == "bounced", messages.c.status == "failed",
                 join=True),
    ]


def _ledger_branch(campaign_ids) -> sa.Select:
    return (sa.select(messages.c.campaign_id, sa.literal("ledger", sa.String), messages.c.status, sa.func.count())
            .where(messages.c.campaign_id.in_(campaign_ids)).group_by(messages.c.campaign_id, messages.c.status))


def _empty_feedback(campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    return {cid: dict.fromkeys((*COUNT_NAMES.values(), "humanOpened", "failedBounced"), 0) for cid in campaign_ids}


def _place(part: str, key: str, n: int, ledger: dict[str, int], feedback: dict[str, int]) -> None:
    if part == "ledger":
        ledger[key] = n
    else:
        feedback[{"feedback": COUNT_NAMES.get(key, key), "human": "humanOpened", "refused": "failedBounced"}[part]] = n


_IDS: sa.BindParameter[list[str]] = sa.bindparam("campaign_ids", expanding=True)
# Built once: constructing the UNION costs more CPU than running it on a small campaign.
_COUNTS = {False: sa.union_all(*_feedback_branches(_IDS)),
           True: sa.union_all(*_feedback_branches(_IDS), _ledger_branch(_IDS))}


async def campaign_counts(conn: AsyncConnection, campaign_ids: Sequence[str], *, ledger: bool = True
                          ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """In one statement: ({campaign: {ledger status: rows}} (empty unless `ledger`), campaign_feedback)."""
    ids_ = list(campaign_ids)
    statuses: dict[str, dict[str, int]] = {cid: {} for cid in ids_}
    feedback = _empty_feedback(ids_)
    if not ids_:
        return statuses, feedback
    for cid, part, key, n in await conn.execute(_COUNTS[ledger], {"campaign_ids": ids_}):
        _place(part, key, n, statuses[cid], feedback[cid])
    return statuses, feedback


async def campaign_feedback(conn: AsyncConnection, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """{campaign: {opened, humanOpened, clicked, bounced, spamReported, unsubscribed, failedBounced}};
    every count is of distinct recipients (ledger rows). failedBounced: rows refused at SMTP time."""
    return (await campaign_counts(conn, campaign_ids, ledger=False))[1]


async def lifecycle(conn: AsyncConnection, row_id: str) -> dict[str, tuple[datetime, datetime, int]]:
    """{event type: (first at, last at, how many)} of one ledger row."""
    query = (sa.select(ev.c.type, sa.func.min(ev.c.created_at), sa.func.max(ev.c.created_at), sa.func.count())
             .where(ev.c.message_id == row_id).group_by(ev.c.type))
    return {kind: (first, last, n) for kind, first, last, n in await conn.execute(query)}


# --- suppression groups as the preference page sees them -----------------------------------


async def preference_groups(conn: AsyncConnection, project_id: str, email: str) -> list[dict]:
    """The project's active groups (global first), each with the address's suppression reason or None."""
    entry = (sa.select(suppressions.c.reason).where(suppressions.c.group_id == suppression_groups.c.id,
                                                    suppressions.c.email == email)
             .limit(1).scalar_subquery().label("reason"))
    query = (sa.select(suppression_groups.c.id, suppression_groups.c.group_code, suppression_groups.c.name,
                       suppression_groups.c.description, suppression_groups.c.is_global, entry)
             .where(suppression_groups.c.project_id == project_id, suppression_groups.c.is_active.is_(True))
             .order_by(suppression_groups.c.is_global.desc(), suppression_groups.c.created_at,
                       suppression_groups.c.id))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_unsubscribe(conn: AsyncConnection, group_id: str, email: str) -> bool:
    """Lift an UNSUBSCRIBE entry (never a bounce or complaint); whether one was removed."""
    stmt = suppressions.delete().where(suppressions.c.group_id == group_id, suppressions.c.email == email,
                                       suppressions.c.reason == "UNSUBSCRIBE")
    return (await conn.execute(stmt)).rowcount > 0


async def rate_basis(conn: AsyncConnection, campaign_id: str) -> dict[str, int]:
    """{sent, delivered, bounced, complained} of a campaign, as the auto-pause rates use them."""
    query = (sa.select(messages.c.status, sa.func.count())
             .where(messages.c.campaign_id == campaign_id, messages.c.status.in_(("sent", "bounced")))
             .group_by(messages.c.status))
    rows: dict[str, int] = dict((await conn.execute(query)).tuples().all())
    feedback = (await campaign_feedback(conn, [campaign_id]))[campaign_id]
    return {"sent": rows.get("sent", 0) + rows.get("bounced", 0) + feedback["failedBounced"],
            "delivered": rows.get("sent", 0), "bounced": feedback["bounced"],
            "complained": feedback["spamReported"]}
