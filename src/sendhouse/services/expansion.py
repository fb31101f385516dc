"""Audience expansion: when a campaign starts, its recipients become ledger rows, in SQL.

toLists (lists and segments) or the global list, minus excludeLists, minus addresses suppressed
globally or in the campaign's unsubscribe group, each address once. Issue 5 owns this module;
segments are resolved through store/segments.py (issue 3).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.store.lists import GLOBAL_CONTACT_LIST
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.audience import contact_lists, contacts, list_members, suppression_groups, suppressions

MESSAGE_ID_DOMAIN = "sendhouse.local"  # issue 4/5: the sender's domain


def _members_of(project_id: str, list_ids: list[str]) -> sa.Select:
    """Contact ids in any of the given plain lists (segments are added by issue 3/5)."""
    live_lists = sa.select(contact_lists.c.id).where(
        contact_lists.c.project_id == project_id, contact_lists.c.id.in_(list_ids),
        contact_lists.c.deleted_at.is_(None), contact_lists.c.type == "list",
    )
    return sa.select(list_members.c.contact_id).where(list_members.c.list_id.in_(live_lists))


def audience_query(campaign: dict) -> sa.Select:
    """SELECT of the contacts a campaign goes to, before suppression."""
    project_id = campaign["project_id"]
    query = sa.select(contacts.c.id, contacts.c.email, contacts.c.first_name, contacts.c.last_name).where(
        contacts.c.project_id == project_id
    )
    to_lists = list(campaign["to_lists"] or [])
    if not (campaign["send_to_global_list"] or GLOBAL_CONTACT_LIST in to_lists):
        query = query.where(contacts.c.id.in_(_members_of(project_id, to_lists)))
    excluded = [i for i in campaign["exclude_lists"] or [] if i != GLOBAL_CONTACT_LIST]
    if excluded:
        query = query.where(contacts.c.id.not_in(_members_of(project_id, excluded)))
    return query


def suppressed_emails(campaign: dict) -> sa.Select:
    """Addresses suppressed globally or in the campaign's unsubscribe group."""
    groups = sa.select(suppression_groups.c.id).where(
        suppression_groups.c.project_id == campaign["project_id"],
        sa.or_(suppression_groups.c.is_global.is_(True), suppression_groups.c.group_code == campaign["unsubscribe_group_id"]),
    )
    return sa.select(suppressions.c.email).where(suppressions.c.group_id.in_(groups))


async def expand_audience(conn: AsyncConnection, campaign: dict, now: datetime) -> tuple[int, int]:
    """Insert one queued ledger row per recipient; return (total contacts, suppressed)."""
    query = audience_query(campaign)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    blocked = suppressed_emails(campaign)
    sendable = query.where(contacts.c.email.not_in(blocked)).order_by(contacts.c.id)
    rows = [_ledger_row(campaign, contact, now) for contact in (await conn.execute(sendable)).mappings()]
    for start in range(0, len(rows), 5000):
        await conn.execute(messages.insert(), rows[start:start + 5000])
    return total, total - len(rows)


def _ledger_row(campaign: dict, contact: dict, now: datetime) -> dict:
    row_id = ids.new_id()
    name = " ".join(p for p in (contact["first_name"], contact["last_name"]) if p) or None
    return {
        "id": row_id, "project_id": campaign["project_id"], "campaign_id": campaign["id"], "kind": "campaign",
        "priority": 100, "contact_id": contact["id"], "email": contact["email"], "name": name, "status": "queued",
        "attempts": 0, "next_attempt_at": now, "message_id_header": f"<{row_id}@{MESSAGE_ID_DOMAIN}>",
        "created_at": now, "updated_at": now,
    }
