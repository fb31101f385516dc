"""Queries on sending domains: their DKIM keys, DNS check results and verification state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.content import domains
from sendhouse.store.types import UTCDateTime

CHECK_FLAGS = ("ownership_verified", "dkim_enabled", "mail_from_enabled", "dmarc_enabled")


async def insert_domain(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert a domain; False when the project already has it."""
    try:
        async with conn.begin_nested():
            await conn.execute(domains.insert().values(**row))
    except IntegrityError:
        return False
    return True


async def get_domain(conn: AsyncConnection, project_id: str, domain_id: str) -> dict | None:
    query = sa.select(domains).where(domains.c.project_id == project_id, domains.c.id == domain_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def find_domain_by_name(conn: AsyncConnection, project_id: str, name: str) -> dict | None:
    query = sa.select(domains).where(
        domains.c.project_id == project_id, domains.c.domain_name == name.lower()
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_domains(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(domains)
        .where(domains.c.project_id == project_id)
        .order_by(domains.c.created_at, domains.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def claim_check(
    conn: AsyncConnection, project_id: str, domain_id: str, now: datetime, not_checked_since: datetime
) -> dict | None:
    """Stamp `last_checked_at` unless the domain was checked after `not_checked_since` (one conditional UPDATE)."""
    stmt = (
        domains.update()
        .where(
            domains.c.project_id == project_id,
            domains.c.id == domain_id,
            sa.or_(domains.c.last_checked_at.is_(None), domains.c.last_checked_at <= not_checked_since),
        )
        .values(last_checked_at=now)
        .returning(*domains.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def record_check(
    conn: AsyncConnection, domain_id: str, found: dict[str, bool], results: dict, now: datetime
) -> dict | None:
    """Merge what a DNS check found: flags only ever turn on; status follows the flags; verified_at
    set once; `results` (each record's state) replaces the last check's."""
    flags = {name: sa.or_(domains.c[name], sa.literal(bool(found.get(name)))) for name in CHECK_FLAGS}
    verified = sa.and_(flags["ownership_verified"], flags["dkim_enabled"])
    any_found = sa.or_(*flags.values())
    status = sa.case((verified, "VERIFIED"), (any_found, "PENDING"), else_="PENDING_CONFIGURATION")
    stamp = sa.literal(now, UTCDateTime)
    verified_at = sa.case(
        (sa.and_(verified, domains.c.verified_at.is_(None)), stamp), else_=domains.c.verified_at
    )
    stmt = (
        domains.update()
        .where(domains.c.id == domain_id)
        .values(
            **flags,
            verification_status=status,
            verified_at=verified_at,
            dns_results=results,
            updated_at=now,
        )
        .returning(*domains.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def delete_domain(conn: AsyncConnection, project_id: str, domain_id: str) -> bool:
    result = await conn.execute(
        domains.delete().where(domains.c.project_id == project_id, domains.c.id == domain_id)
    )
    return result.rowcount > 0


async def find_verified(conn: AsyncConnection, project_id: str, name: str) -> dict | None:
    """The project's VERIFIED domain of this name, or None."""
    query = sa.select(domains).where(
        domains.c.project_id == project_id,
        domains.c.domain_name == name.lower(),
        domains.c.verification_status == "VERIFIED",
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None
