"""Expansion benchmark: a campaign to N contacts (default 1,000,000) started, i.e. its audience
expanded into ledger rows, on SQLite (and PostgreSQL when --database-url is given). Prints seconds.

    .venv/bin/python bench/expand.py [--recipients 1000000] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seed import container, drop_database, fresh_database, scheduled_campaign, seed

from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service


async def run(url, data_dir, size) -> tuple[float, int, str]:
    built = container(url, data_dir)
    try:
        project_id, list_id = await seed(built.db, size)
        cid = await scheduled_campaign(built.db, project_id, list_id)
        t0 = time.perf_counter()
        row = await campaign_service.start_campaign(built.db, cid, utcnow())
        return time.perf_counter() - t0, row["total_contacts"], built.db.dialect
    finally:
        await built.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url, data_dir = fresh_database(args.database_url or None)
    try:
        seconds, total, dialect = asyncio.run(run(url, data_dir, args.recipients))
    finally:
        drop_database(url)
    print(
        f"{dialect}: expanded {total} recipients into ledger rows in {seconds:.1f} s ({total / seconds:.0f} rows/s)"
    )


if __name__ == "__main__":
    main()
