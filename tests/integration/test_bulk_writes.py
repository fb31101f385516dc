"""store/bulk.py on SQLite and PostgreSQL: rows written below SQLAlchemy (executemany, COPY, one
multi-row INSERT, UPDATE … FROM unnest) read back through SQLAlchemy exactly as if SQLAlchemy had
written them, text with COPY's special characters included; updates apply only where their
conditions hold. The same inside a quick write (store/db.py), which hands bulk.py SQLite's own
sqlite3 connection instead of aiosqlite's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.services import projects as project_service
from sendhouse.store import bulk
from sendhouse.store.bulk import insert_few, insert_many, update_by_id
from sendhouse.store.schema.campaigns import messages

AWKWARD = "tab\there, back\\slash, new\nline, \r, \\N, NUL-free ünïcødé 📬, 'quotes' \"double\""


def _row(project_id: str, n: int, when: datetime) -> dict:
    return {
        "id": ids.new_id(),
        "project_id": project_id,
        "kind": "transactional",
        "priority": 50,
        "email": f"u{n}@example.com",
        "name": None if n % 2 else AWKWARD,
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": when,
        "message_id_header": f"<m{n}@example.com>",
        "created_at": when,
        "updated_at": when + timedelta(microseconds=n),
        "payload": {"n": n, "text": AWKWARD, "nested": {"list": [1, 2.5, None, True]}},
    }


async def _read(db, row_ids: list[str]) -> dict[str, dict]:
    async with db.read() as conn:
        found = (await conn.execute(sa.select(messages).where(messages.c.id.in_(row_ids)))).mappings()
        return {r["id"]: dict(r) for r in found}


@pytest.mark.parametrize("quick", [False, True], ids=["write", "quick-write"])
@pytest.mark.parametrize("insert", [insert_many, insert_few])
async def test_inserted_rows_read_back_as_written(container, insert, quick):
    project_id = (await project_service.create_project(container.db, name="bulk"))["id"]
    when = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    rows = [_row(project_id, n, when) for n in range(5)]
    async with container.db.write(quick=quick) as conn:  # quick: SQLite's own driver connection
        await insert(conn, messages, rows)
    stored = await _read(container.db, [r["id"] for r in rows])
    for row in rows:
        assert {k: stored[row["id"]][k] for k in row} == row


async def test_few_rows_over_the_parameter_limit_go_in_several_statements(container, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_PARAMETERS", 30)  # two rows per statement
    project_id = (await project_service.create_project(container.db, name="bulk"))["id"]
    rows = [_row(project_id, n, datetime(2026, 3, 4, tzinfo=UTC)) for n in range(5)]
    async with container.db.write() as conn:
        await insert_few(conn, messages, rows)
    stored = await _read(container.db, [r["id"] for r in rows])
    assert [{k: stored[row["id"]][k] for k in row} for row in rows] == rows


async def test_naive_timestamps_are_refused(container):
    project_id = (await project_service.create_project(container.db, name="bulk"))["id"]
    row = _row(project_id, 1, datetime(2026, 3, 4, tzinfo=UTC)) | {"created_at": datetime(2026, 3, 4)}  # noqa: DTZ001 (naive on purpose)
    with pytest.raises(ValueError, match="naive"):
        async with container.db.write() as conn:
            await insert_many(conn, messages, [row])


@pytest.mark.parametrize("quick", [False, True], ids=["write", "quick-write"])
async def test_updates_apply_only_where_their_conditions_hold(container, quick):
    project_id = (await project_service.create_project(container.db, name="bulk"))["id"]
    when = datetime(2026, 3, 4, tzinfo=UTC)
    rows = [_row(project_id, n, when) for n in range(4)]
    async with container.db.write(quick=quick) as conn:
        await insert_many(conn, messages, rows)
        await conn.execute(
            messages.update().where(messages.c.id == rows[3]["id"]).values(lease_owner="other")
        )
        later = when + timedelta(hours=1)
        changes = [
            {
                "id": r["id"],
                "status": "sent",
                "sent_at": later + timedelta(seconds=i),
                "smtp_response": AWKWARD if i else None,
            }
            for i, r in enumerate(rows[1:])
        ]
        changed = await update_by_id(
            conn,
            messages,
            changes,
            where={"lease_owner": None, "status": "queued"},
            fixed={"updated_at": later, "attempts": 1},
        )
    assert changed == 2
    stored = await _read(container.db, [r["id"] for r in rows])
    assert [stored[r["id"]]["status"] for r in rows] == ["queued", "sent", "sent", "queued"]
    assert stored[rows[1]["id"]]["sent_at"] == later and stored[rows[1]["id"]]["smtp_response"] is None
    assert stored[rows[2]["id"]]["sent_at"] == later + timedelta(seconds=1)
    assert stored[rows[2]["id"]]["smtp_response"] == AWKWARD
    assert (stored[rows[2]["id"]]["updated_at"], stored[rows[2]["id"]]["attempts"]) == (later, 1)
    assert (stored[rows[0]["id"]]["updated_at"], stored[rows[0]["id"]]["attempts"]) == (when, 0)
