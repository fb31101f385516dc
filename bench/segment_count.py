"""Bench: count a 3-condition segment over 1,000,000 contacts on SQLite and PostgreSQL.

Builds the contacts directly in SQL (a recursive CTE on SQLite, generate_series on PostgreSQL),
each with custom fields plan (string), age (number) and signup (date), then times
store.segments.count_matching for `plan contains "pro" AND age > 30 AND signup after 2022-01-01`
and prints the median of several runs. PostgreSQL runs when SENDHOUSE_TEST_POSTGRES_URL is set
(a scratch database is created and dropped).

    .venv/bin/python bench/segment_count.py [--contacts 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from sendhouse.domain.segments import validate_criteria
from sendhouse.services import projects as project_service
from sendhouse.store.db import Database, sync_url
from sendhouse.store.migrate import upgrade_to_head
from sendhouse.store.segments import count_matching, criteria_condition

CRITERIA = validate_criteria(
    {
        "logicalOperator": "AND",
        "groups": [
            {"field": "plan", "fieldType": "string", "operator": "contains", "value": "pro"},
            {"field": "age", "fieldType": "number", "operator": "greater_than", "value": 30},
            {"field": "signup", "fieldType": "date", "operator": "after", "value": "2022-01-01"},
        ],
    }
)

SQLITE_FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO contacts (id, project_id, email, first_name, custom_fields, source, created_at, updated_at)
SELECT printf('%024x', i), :project, 'user' || i || '@example.com', 'User ' || i,
       json_object('plan', CASE i % 4 WHEN 0 THEN 'pro-annual' WHEN 1 THEN 'Pro monthly' WHEN 2 THEN 'free' ELSE 'team' END,
                   'age', i % 80, 'signup', date('2020-01-01', '+' || (i % 1800) || ' days')),
       'api', '2024-01-01 00:00:00.000000', '2024-01-01 00:00:00.000000'
FROM n
"""

POSTGRES_FILL = """
INSERT INTO contacts (id, project_id, email, first_name, custom_fields, source, created_at, updated_at)
SELECT lpad(to_hex(i), 24, '0'), :project, 'user' || i || '@example.com', 'User ' || i,
       jsonb_build_object('plan', (ARRAY['pro-annual', 'Pro monthly', 'free', 'team'])[i % 4 + 1],
                          'age', i % 80, 'signup', to_char(date '2020-01-01' + (i % 1800), 'YYYY-MM-DD')),
       'api', timestamp '2024-01-01', timestamp '2024-01-01'
FROM generate_series(0, :count - 1) AS i
"""


async def _fill(db: Database, count: int) -> str:
    project = await project_service.create_project(db, name="bench")
    started = time.perf_counter()
    async with db.write() as conn:
        fill = POSTGRES_FILL if db.is_postgres else SQLITE_FILL
        await conn.execute(sa.text(fill), {"count": count, "project": project["id"]})
    print(f"  inserted {count:,} contacts in {time.perf_counter() - started:.1f} s")
    return project["id"]


async def _analyze(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(sa.text("ANALYZE"))


async def _time_counts(db: Database, project_id: str, runs: int) -> tuple[int, list[float]]:
    timings, found = [], 0
    for _ in range(runs + 1):  # the first run warms the cache and is not counted
        started = time.perf_counter()
        async with db.read() as conn:
            found = await count_matching(
                conn, project_id, criteria_condition(CRITERIA, dialect=conn.dialect.name)
            )
        timings.append(time.perf_counter() - started)
    return found, timings[1:]


async def bench(url: str, label: str, count: int, runs: int) -> None:
    print(f"{label}:")
    db = Database(url)
    try:
        project_id = await _fill(db, count)
        await _analyze(db)
        found, timings = await _time_counts(db, project_id, runs)
    finally:
        await db.close()
    runs_text = ", ".join(f"{t:.3f}" for t in timings)
    print(
        f"  segment count = {found:,}; median {statistics.median(timings):.3f} s over {runs} runs ({runs_text})"
    )


def _postgres_scratch(server_url: str) -> tuple[str, sa.Engine, str]:
    name = f"sendhouse_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        sync_url(server_url.rpartition("/")[0] + "/postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return server_url.rpartition("/")[0] + f"/{name}", admin, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade_to_head(url)
        asyncio.run(bench(url, "SQLite", args.contacts, args.runs))
    server = os.environ.get("SENDHOUSE_TEST_POSTGRES_URL")
    if not server:
        print("PostgreSQL: skipped (SENDHOUSE_TEST_POSTGRES_URL is not set)")
        return
    url, admin, name = _postgres_scratch(server)
    try:
        upgrade_to_head(url)
        asyncio.run(bench(url, "PostgreSQL", args.contacts, args.runs))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
