"""Benchmark: what the member-count triggers on list_members cost, apart from any import.

    .venv/bin/python bench/member_triggers.py [--postgres URL]

On a freshly migrated database with 100,000 contacts: 10 statements `INSERT INTO list_members …
SELECT` of 10,000 members each into one list, then `DELETE FROM contacts` (its cascade removes the
members), with the triggers absent and present, twice each. SQLite: CPU seconds of this process
(SQLite runs in it). PostgreSQL: server time and trigger time from EXPLAIN ANALYZE.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import uuid

import sqlalchemy as sa

from sendhouse.store.migrate import upgrade_to_head

TRIGGERS = ("list_members_added", "list_members_removed", "list_members_moved")
SEED = (
    "INSERT INTO organizations (id, name, created_at) VALUES ('o', 'o', '2024-01-01')",
    "INSERT INTO projects (id, organization_id, name, created_at, updated_at) VALUES ('p', 'o', 'p', 'x', 'x')",
    (
        "INSERT INTO contact_lists (id, project_id, name, type, created_at, updated_at)"
        " VALUES ('l', 'p', 'l', 'list', 'x', 'x')"
    ),
)
ADD = (
    "INSERT INTO list_members (list_id, contact_id, created_at) SELECT 'l', id, '2024-01-01' FROM contacts"
    " WHERE id >= {a} AND id < {b} ON CONFLICT DO NOTHING"
)


def sqlite_round(with_triggers: bool) -> None:
    path = os.path.join(tempfile.mkdtemp(), "t.db")
    upgrade_to_head(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    if not with_triggers:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
    for statement in SEED:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO contacts (id, project_id, email, custom_fields, created_at, updated_at)"
        " VALUES (?, 'p', ?, '{}', 'x', 'x')",
        [(f"c{i:08d}", f"u{i}@x.com") for i in range(100_000)],
    )
    inserting = 0.0
    for start in range(0, 100_000, 10_000):
        started = time.process_time()
        conn.execute(ADD.format(a="?", b="?"), (f"c{start:08d}", f"c{start + 10_000:08d}"))
        inserting += time.process_time() - started
    started = time.process_time()
    conn.execute("DELETE FROM contacts")
    deleting = time.process_time() - started
    print(
        f"SQLite, triggers {'present' if with_triggers else 'absent '}: 100,000 members inserted "
        f"{inserting:.3f} s CPU; cascading delete {deleting:.3f} s CPU"
    )


def postgres_round(engine: sa.Engine, with_triggers: bool) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"ALTER TABLE list_members {'ENABLE' if with_triggers else 'DISABLE'} TRIGGER USER")
        )
        conn.execute(
            sa.text(
                "INSERT INTO contacts (id, project_id, email, custom_fields, created_at, updated_at)"
                " SELECT 'c' || lpad(i::text, 8, '0'), 'p', 'u' || i || '@x.com', '{}', now(), now()"
                " FROM generate_series(0, 99999) i"
            )
        )
        conn.execute(sa.text("ANALYZE"))
    total = triggers = 0.0
    for start in range(0, 100_000, 10_000):
        with engine.begin() as conn:
            plan = _plan(conn, ADD.format(a=f"'c{start:08d}'", b=f"'c{start + 10_000:08d}'"))
        total, triggers = total + plan[0], triggers + plan[1]
    with engine.begin() as conn:
        deleting, deleting_triggers = _plan(conn, "DELETE FROM contacts")
        conn.execute(sa.text("UPDATE contact_lists SET member_count = 0"))
    print(
        f"PostgreSQL, triggers {'present' if with_triggers else 'absent '}: 100,000 members inserted "
        f"{total:.0f} ms server ({triggers:.0f} ms in the triggers); cascading delete {deleting:.0f} ms "
        f"({deleting_triggers:.0f} ms)"
    )


def _plan(conn: sa.Connection, statement: str) -> tuple[float, float]:
    plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")).scalar_one()[0]
    mine = [t["Time"] for t in plan.get("Triggers", []) if t["Trigger Name"] in TRIGGERS]
    return plan["Execution Time"], sum(mine)


def postgres(server_url: str) -> None:
    base, name = server_url.rpartition("/")[0], f"sendhouse_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{base}/postgres".replace("postgresql://", "postgresql+psycopg://"))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade_to_head(f"{base}/{name}")
        engine = sa.create_engine(f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            for statement in SEED:
                conn.execute(sa.text(statement.replace("'x'", "now()").replace("'2024-01-01'", "now()")))
        for with_triggers in (False, True, False, True):
            postgres_round(engine, with_triggers)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SENDHOUSE_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    for with_triggers in (False, True, False, True):
        sqlite_round(with_triggers)
    if args.postgres:
        postgres(args.postgres)


if __name__ == "__main__":
    main()
