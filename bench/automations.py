"""Benchmark: N contacts entering one automation at once through a list import, then the runner.

    .venv/bin/python bench/automations.py [--contacts 100000] [--batch 1000] [--postgres URL] [--no-sqlite]

In a fresh SQLite file and (when --postgres or SENDHOUSE_TEST_POSTGRES_URL names a server) a fresh
PostgreSQL database: an active automation "added to list L" with wait 0 → email → wait 1 day →
email; N contacts imported into L (services/imports.py, chunks of 10,000: every new member gets
its run in the chunk's transaction); then the automation runner (one process) carries out every
due step at t0 (wait, email = a ledger row, wait) and again at t0 + 1 day (the second email).
Prints the import rate with enrolment, the runs made, and steps carried out per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from sendhouse.automation_runner import BATCH, AutomationRunner
from sendhouse.domain.times import utcnow
from sendhouse.services import automations as automation_service
from sendhouse.services import lists as list_service
from sendhouse.services import projects as project_service
from sendhouse.services.imports import import_rows
from sendhouse.store.db import Database
from sendhouse.store.migrate import upgrade_to_head
from sendhouse.store.schema.automations import automation_runs

EMAIL = {"htmlTemplate": "<p>Hi {{first_name}}</p>", "senderEmail": "team@example.com"}
STEPS = [
    {"type": "wait", "stepId": "w1", "delay": {"value": 0, "unit": "minutes"}},
    {"type": "email", "stepId": "e1", "email": {**EMAIL, "subject": "One"}},
    {"type": "wait", "stepId": "w2", "delay": {"value": 1, "unit": "days"}},
    {"type": "email", "stepId": "e2", "email": {**EMAIL, "subject": "Two"}},
]


async def setup(db: Database) -> tuple[str, str]:
    project = await project_service.create_project(db, name=f"bench-{uuid.uuid4().hex[:6]}")
    made = await list_service.create_list(db, project["id"], list_service.NewList(name="L"))
    await automation_service.create_automation(
        db,
        project["id"],
        {
            "name": "Welcome",
            "active": True,
            "steps": STEPS,
            "entryCriteria": {"type": "contact_added_to_list", "contactListId": made["id"]},
        },
    )
    return project["id"], made["id"]


async def run(url: str, contacts: int, batch: int) -> list[tuple[str, float, str]]:
    """Prints the figures; returns [(figure, value, unit)]."""
    db = Database(url)
    try:
        project_id, list_id = await setup(db)
        rows = ((i + 2, [f"user{i}@example{i % 97}.com", f"First{i}"]) for i in range(contacts))
        started = time.perf_counter()
        report = await import_rows(
            db, project_id, ["email", "first_name"], rows, list_id=list_id, chunk_size=10_000
        )
        elapsed = time.perf_counter() - started
        async with db.read() as conn:
            entered = (
                await conn.execute(sa.select(sa.func.count()).select_from(automation_runs))
            ).scalar_one()
        print(
            f"  import into the list: {report.imported:,} contacts in {elapsed:.1f} s "
            f"({report.imported / elapsed:,.0f}/s), {entered:,} runs entered with them"
        )
        figures = [("list import with enrolment", report.imported / elapsed, "contacts/s")]
        runner = AutomationRunner(SimpleNamespace(db=db), name="bench", batch=batch)
        t0 = utcnow() + timedelta(seconds=1)
        for label, at in (("wait, email, wait", t0), ("second email", t0 + timedelta(days=1, seconds=1))):
            steps, started, cpu = 0, time.perf_counter(), time.process_time()
            while done := await runner.tick(at):
                steps += done
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"  runner, {label}: {steps:,} steps in {elapsed:.1f} s = {steps / elapsed:,.0f} steps/s "
                f"(this process used {cpu:.1f} s of CPU; load average {os.getloadavg()[0]:.1f})"
            )
            figures.append((f"runner, {label}", steps / elapsed, "steps/s"))
        return figures
    finally:
        await db.close()


def fresh_postgres(server_url: str) -> tuple[str, sa.Engine, str]:
    base = server_url.rpartition("/")[0]
    name = f"sendhouse_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        f"{base}/postgres".replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    upgrade_to_head(f"{base}/{name}")
    return f"{base}/{name}", admin, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("SENDHOUSE_TEST_POSTGRES_URL", ""))
    parser.add_argument("--batch", type=int, default=BATCH, help="runs claimed per pass")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"{args.contacts:,} contacts entering one automation")
    results = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade_to_head(url)
            print("SQLite:")
            results += _rows("SQLite", asyncio.run(run(url, args.contacts, args.batch)))
    if args.postgres:
        url, admin, name = fresh_postgres(args.postgres)
        try:
            print("PostgreSQL:")
            results += _rows("PostgreSQL", asyncio.run(run(url, args.contacts, args.batch)))
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(json.dumps({"bench": "automations", "results": results}))


def _rows(database: str, figures: list[tuple[str, float, str]]) -> list[dict]:
    """run_all.py's result rows; the goal of the runner figures is 5,000 steps/s."""
    return [
        {
            "figure": f"automations: {name} ({database})",
            "unit": unit,
            "value": round(value),
            "baseline": None,
            "baseline_name": "goal 5,000 steps/s" if unit == "steps/s" else None,
            "higher_is_better": True,
        }
        for name, value, unit in figures
    ]


if __name__ == "__main__":
    main()
