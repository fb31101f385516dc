"""Benchmark: import a generated CSV of contacts through services/imports.py and print rows/s.

    .venv/bin/python bench/import_contacts.py [--rows 1000000] [--chunk 10000] [--postgres URL] [--no-sqlite] [--list]

Generates the CSV in a temporary directory (email, first_name, last_name, userId, plan (string
property), score (number property), every 50th row with a bad email), imports it into a fresh
SQLite file and, when --postgres or SENDHOUSE_TEST_POSTGRES_URL names a server, into a fresh
PostgreSQL database (created and dropped here), then imports it again (the update path). With
--list every row also goes into one static list (list_members, and what keeps its member count).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from sendhouse.services import lists as list_service
from sendhouse.services import projects as project_service
from sendhouse.services import properties as property_service
from sendhouse.services.imports import csv_rows, import_rows
from sendhouse.store.db import Database
from sendhouse.store.migrate import upgrade_to_head


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "first_name", "last_name", "userId", "plan", "score"])
        for i in range(rows):
            email = f"not-an-email-{i}" if i % 50 == 49 else f"user{i}@example{i % 97}.com"
            out.writerow([email, f"First{i}", f"Last{i}", f"u{i}", ("free", "pro")[i % 2], i % 1000])


async def run_import(url: str, path: Path, chunk: int, into_list: bool = False) -> None:
    db = Database(url)
    try:
        project = await project_service.create_project(db, name=f"bench-{uuid.uuid4().hex[:6]}")
        await property_service.create_property(db, project["id"], name="plan", kind="string")
        await property_service.create_property(db, project["id"], name="score", kind="number")
        list_id = None
        if into_list:
            list_id = (await list_service.create_list(db, project["id"], list_service.NewList("bench")))["id"]
        for label in ("first import", "re-import (updates)"):
            with path.open(newline="") as handle:
                header, rows = csv_rows(handle)
                started, cpu = time.perf_counter(), time.process_time()
                report = await import_rows(db, project["id"], header, rows, list_id=list_id, chunk_size=chunk)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"  {label}: {report.rows:,} rows ({report.imported:,} written, {report.failed:,} bad) "
                f"in {elapsed:.1f} s = {report.rows / elapsed:,.0f} rows/s "
                f"(this process used {cpu:.1f} s of CPU; load average {os.getloadavg()[0]:.1f})"
            )
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
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("SENDHOUSE_TEST_POSTGRES_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--list", action="store_true", help="import into one static list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        write_csv(path, args.rows)
        into = ", into one list" if args.list else ""
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB, chunks of {args.chunk:,}{into}")
        if not args.no_sqlite:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade_to_head(url)
            print("SQLite:")
            asyncio.run(run_import(url, path, args.chunk, args.list))
        if args.postgres:
            url, admin, name = fresh_postgres(args.postgres)
            try:
                print("PostgreSQL:")
                asyncio.run(run_import(url, path, args.chunk, args.list))
            finally:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
