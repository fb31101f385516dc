"""The ledger counts /metrics exposes, read in one snapshot at scrape time (a crash loses nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from sendhouse.store import metrics as store
from sendhouse.store.db import Database


@dataclass(frozen=True)
class LedgerCounts:
    by_status: dict[tuple[str, str], int]  # (kind, status) → rows
    feedback: dict[str, int]  # bounce and complaint events by type
    pending: list[tuple[str, str, str, int]]  # (project id, campaign id, status, rows) still to send


async def ledger_counts(db: Database) -> LedgerCounts:
    async with db.read() as conn:
        return LedgerCounts(
            await store.messages_by_status(conn),
            await store.feedback_counts(conn),
            await store.pending_by_campaign(conn),
        )
