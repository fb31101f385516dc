"""Abort latency: how long POST /v1/campaigns/{id}/abort takes while the worker of the same process
sends at full speed into Postfix's smtp-sink, beside the same call on a campaign nobody is sending
(baseline, same run). The answer includes the stop fence: once it returns, no new MAIL FROM starts.

    .venv/bin/python bench/abort_latency.py [--rounds 7] [--recipients 20000] [--database-url postgresql://…]

The last line printed is a JSON object (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa
from _seed import container, drop_database, fresh_database, scheduled_campaign, seed
from send import free_port

from sendhouse.app import create_app
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from sendhouse.store.schema.campaigns import messages
from sendhouse.worker import Worker


async def _sent(db, campaign_id: str) -> int:
    query = sa.select(sa.func.count()).where(
        messages.c.campaign_id == campaign_id, messages.c.status == "sent"
    )
    async with db.read() as conn:
        return (await conn.execute(query)).scalar_one()


async def _timed_abort(client, headers, campaign_id: str) -> float:
    started = time.perf_counter()
    response = await client.post(f"/v1/campaigns/{campaign_id}/abort", headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["data"]["status"] == "aborted", response.text
    return elapsed * 1000


async def _one_round(built, client, headers, project_id, list_id, *, sending: bool) -> float:
    campaign_id = await scheduled_campaign(built.db, project_id, list_id)
    if not sending:
        return await _timed_abort(client, headers, campaign_id)
    await campaign_service.start_campaign(built.db, campaign_id, utcnow())
    while await _sent(built.db, campaign_id) < 500:
        await asyncio.sleep(0.01)
    return await _timed_abort(client, headers, campaign_id)


async def measure(url, data_dir, port, rounds, size) -> tuple[list[float], list[float]]:
    built = container(url, data_dir, smtp_url=f"smtp://127.0.0.1:{port}", smtp_connections=20)
    app = create_app(container=built)
    try:
        project_id, list_id = await seed(built.db, size)
        _, key = await project_service.create_api_key(built.db, project_id=project_id)
        headers = {"Authorization": f"Bearer {key}"}
        worker = Worker(built)
        task = asyncio.create_task(worker.run())
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://bench"
        ) as client:
            idle = [
                await _one_round(built, client, headers, project_id, list_id, sending=False)
                for _ in range(rounds)
            ]
            busy = [
                await _one_round(built, client, headers, project_id, list_id, sending=True)
                for _ in range(rounds)
            ]
        worker.stop()
        await task
        return idle, busy
    finally:
        await built.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "root", f"127.0.0.1:{port}", "1000"])
    url, data_dir = fresh_database(args.database_url or None)
    try:
        time.sleep(0.5)
        idle, busy = asyncio.run(measure(url, data_dir, port, args.rounds, args.recipients))
    finally:
        sink.kill()
        sink.wait()
        drop_database(url)
    idle_ms, busy_ms = statistics.median(idle), statistics.median(busy)
    print(
        f"abort while sending at full speed: median {busy_ms:.1f} ms, max {max(busy):.1f} ms ({args.rounds} rounds)"
    )
    print(
        f"abort of a campaign nobody sends:  median {idle_ms:.1f} ms, max {max(idle):.1f} ms; ratio {busy_ms / idle_ms:.2f}"
    )
    print(
        json.dumps(
            {
                "bench": "abort_latency",
                "results": [
                    {
                        "figure": "abort latency while sending (median)",
                        "unit": "ms",
                        "value": round(busy_ms, 1),
                        "baseline": round(idle_ms, 1),
                        "baseline_name": "abort of an idle scheduled campaign",
                        "higher_is_better": False,
                    }
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
