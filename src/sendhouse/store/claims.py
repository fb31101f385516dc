"""Claiming rows for one holder: the single UPDATE form every queue in the store uses.

`update_chosen(conn, table, chosen)` turns `chosen` (a SELECT of `table.c.id` with its filter,
order and LIMIT) into an UPDATE of exactly those rows, locked with FOR UPDATE SKIP LOCKED so
concurrent holders pass each other by:

- PostgreSQL: `WITH chosen AS MATERIALIZED (SELECT id … LIMIT n FOR UPDATE OF t SKIP LOCKED)
  UPDATE t … FROM chosen WHERE t.id = chosen.id`. As an `IN (subquery)` PostgreSQL may rescan
  the subquery, and each rescan skips the rows it has just locked and takes others, so one
  statement could change more than `n` rows; a materialized CTE runs once.
- SQLite: `UPDATE t … WHERE id IN (SELECT id … LIMIT n)`; the single writer (BEGIN IMMEDIATE)
  already excludes concurrent claims.

Used by the ledger (store/ledger.py: claim, release_held, hold_beyond) and the automation runs
(store/automation_runs.py: claim). A queue whose choice cannot be one SELECT (the webhook outbox
picks its rows fairly in Python, store/webhooks.py: claim_due) uses `update_listed(conn, table,
ids, still)`: the same form over the listed ids that still meet `still` (still due), so rows
another holder has locked meanwhile are skipped and rows it has already taken no longer match;
a holder may get fewer rows than it listed, never one twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


def update_chosen(conn: AsyncConnection, table: sa.Table, chosen: sa.Select) -> sa.Update:
    """An UPDATE of `table` limited to the rows `chosen` selects (by id), skipping locked rows."""
    locked = chosen.with_for_update(skip_locked=True, of=table)
    if conn.dialect.name == "postgresql":
        picked = locked.cte("chosen").prefix_with("MATERIALIZED")
        return table.update().where(table.c.id == picked.c.id)
    return table.update().where(table.c.id.in_(locked.scalar_subquery()))


def update_listed(
    conn: AsyncConnection, table: sa.Table, ids: Sequence[str], still: sa.ColumnElement[bool]
) -> sa.Update:
    """An UPDATE of the rows of `table` with these ids that still meet `still` (re-checked on the
    row the UPDATE changes), skipping locked rows: a claim of candidates chosen beforehand."""
    chosen = sa.select(table.c.id).where(table.c.id.in_(list(ids)), still)
    return update_chosen(conn, table, chosen).where(still)
