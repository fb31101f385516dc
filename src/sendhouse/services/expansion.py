"""Audience expansion: when a campaign starts, its recipients become ledger rows, in SQL.

toLists (lists, segments, sub-segments or GLOBAL_CONTACT_LIST), minus excludeLists (the same
kinds; excluding GLOBAL_CONTACT_LIST excludes everyone), minus addresses suppressed globally or
in the campaign's unsubscribe group, each address once. Segments are resolved in SQL through
store/segments.py at the moment the campaign starts; store/ledger.py inserts the rows.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST
from sendhouse.store import ledger
from sendhouse.store import segments as segment_store
from sendhouse.store import suppressions as suppression_store
from sendhouse.store.schema.audience import contact_lists, contacts, list_members


async def _membership(conn: AsyncConnection, project_id: str, list_ids: list[str]) -> sa.ColumnElement:
    """Condition over contacts: in any of the given lists, segments or GLOBAL_CONTACT_LIST.

    Unknown and deleted ids match nobody; a segment matches whoever fits its criteria (and its
    parents') at this moment.
    """
    if GLOBAL_CONTACT_LIST in list_ids:
        return sa.true()
    live = sa.select(contact_lists.c.id, contact_lists.c.type).where(
        contact_lists.c.project_id == project_id,
        contact_lists.c.id.in_(list_ids),
        contact_lists.c.deleted_at.is_(None),
    )
    rows = (await conn.execute(live)).mappings().all()
    plain = [r["id"] for r in rows if r["type"] == "list"]
    parts: list[sa.ColumnElement[bool]] = (
        [contacts.c.id.in_(sa.select(list_members.c.contact_id).where(list_members.c.list_id.in_(plain)))]
        if plain
        else []
    )
    segment_ids = [r["id"] for r in rows if r["type"] == "segment"]
    if segment_ids:
        segment_rows = await segment_store.load_segments(conn, project_id)
        parts += [
            segment_store.chain_condition(segment_rows, sid, dialect=conn.dialect.name) for sid in segment_ids
        ]
    return sa.or_(*parts) if parts else sa.false()


async def audience_query(conn: AsyncConnection, campaign: dict) -> sa.Select:
    """SELECT of the contacts a campaign goes to (each contact, hence each address, once), before suppression."""
    project_id = campaign["project_id"]
    to_lists = list(campaign["to_lists"] or [])
    if campaign["send_to_global_list"]:
        to_lists.append(GLOBAL_CONTACT_LIST)
    included = await _membership(conn, project_id, to_lists)
    query = sa.select(contacts.c.id, contacts.c.email, contacts.c.first_name, contacts.c.last_name).where(
        contacts.c.project_id == project_id, included
    )
    excluded = list(campaign["exclude_lists"] or [])
    if excluded:
        query = query.where(sa.not_(await _membership(conn, project_id, excluded)))
    return query


def suppressed_emails(campaign: dict) -> sa.Select:
    """Addresses suppressed globally or in the campaign's unsubscribe group."""
    return suppression_store.suppressed_emails(campaign["project_id"], campaign["unsubscribe_group_id"])


async def expand_audience(conn: AsyncConnection, campaign: dict, now: datetime) -> tuple[int, int]:
    """Insert one queued ledger row per recipient in one INSERT … SELECT; return (total contacts,
    suppressed). Rows of a gradual campaign are inserted held (next_attempt_at = ledger.HOLD_UNTIL)
    until the scheduler releases each day's batch."""
    query = await audience_query(conn, campaign)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    sendable = query.where(contacts.c.email.not_in(suppressed_emails(campaign)))
    due = ledger.HOLD_UNTIL if campaign["send_mode"] == "gradual" else now
    return total, total - await ledger.insert_campaign_rows(conn, campaign, sendable, due, now)


async def count_audience(conn: AsyncConnection, campaign: dict) -> tuple[int, int]:
    """(contacts the campaign would go to now, how many of them are suppressed), writing nothing
    (MCP's send_campaign preview)."""
    query = await audience_query(conn, campaign)
    sendable = query.where(contacts.c.email.not_in(suppressed_emails(campaign)))
    total, kept = [
        (await conn.execute(sa.select(sa.func.count()).select_from(q.subquery()))).scalar_one()
        for q in (query, sendable)
    ]
    return total, total - kept
