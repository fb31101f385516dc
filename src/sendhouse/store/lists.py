"""Queries on contact lists and segments (issue 3 completes this module)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.audience import contact_lists

GLOBAL_CONTACT_LIST = "GLOBAL_CONTACT_LIST"


async def describe_lists(conn: AsyncConnection, project_id: str, list_ids: list[str]) -> dict[str, dict]:
    """{id: {id, name, type, contactCount}} for the live lists/segments of the project among list_ids.

    Unknown or deleted ids are absent from the result. GLOBAL_CONTACT_LIST is described as the
    virtual "All Contacts" list. contactCount is 0 here until issue 3 computes memberships.
    """
    found: dict[str, dict] = {}
    if GLOBAL_CONTACT_LIST in list_ids:
        found[GLOBAL_CONTACT_LIST] = {"id": GLOBAL_CONTACT_LIST, "name": "All Contacts", "type": "list", "contactCount": 0}
    ids = [i for i in list_ids if i != GLOBAL_CONTACT_LIST]
    if ids:
        query = sa.select(contact_lists.c.id, contact_lists.c.name, contact_lists.c.type).where(
            contact_lists.c.project_id == project_id, contact_lists.c.id.in_(ids), contact_lists.c.deleted_at.is_(None)
        )
        for row in (await conn.execute(query)).mappings():
            found[row["id"]] = {"id": row["id"], "name": row["name"], "type": row["type"], "contactCount": 0}
    return found
