"""Send benchmark: a campaign of N recipients (default 100,000) from publish to the last message
accepted by Postfix's smtp-sink on loopback, tracking on; then Postfix's smtp-source into the same
sink as the physical anchor. Prints messages/s and the ratio.

    .venv/bin/python bench/send.py [--recipients 100000] [--connections 20] [--dkim] [--no-pipelining]
        [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seed import container, drop_database, fresh_database, scheduled_campaign, seed, verified_dkim_domain

from sendhouse.domain.times import utcnow
from sendhouse.scheduler import Scheduler
from sendhouse.services import campaigns as campaign_service
from sendhouse.worker import Worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def run_campaign(url, data_dir, port, size, connections, dkim,
                       pipelining=True) -> tuple[float, float, float, str]:
    """(expansion s, publish→done s, CPU s this process used meanwhile, dialect)."""
    smtp_url = f"smtp://127.0.0.1:{port}" + ("" if pipelining else "?pipelining=false")
    built = container(url, data_dir, smtp_url=smtp_url, smtp_connections=connections)
    try:
        project_id, list_id = await seed(built.db, size)
        if dkim:
            await verified_dkim_domain(built, project_id, "example.com")
        cid = await scheduled_campaign(built.db, project_id, list_id)
        t0, cpu0 = time.perf_counter(), time.process_time()
        await campaign_service.start_campaign(built.db, cid, utcnow())
        expanded = time.perf_counter() - t0
        worker, scheduler = Worker(built), Scheduler(built, interval=0.2)
        tasks = [asyncio.create_task(worker.run())]
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline and not await scheduler.finish_complete(utcnow()):
            await asyncio.sleep(0.2)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        worker.stop()
        await asyncio.gather(*tasks)
        return expanded, elapsed, cpu, built.db.dialect
    finally:
        await built.close()


def smtp_source(port: int, count: int, size: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(["smtp-source", "-m", str(count), "-s", "20", "-l", str(size), "-t", "to@example.test",
                    "-f", "from@example.test", f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL)
    return count / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--dkim", action="store_true", help="sign every message (RSA-2048, verified domain)")
    parser.add_argument("--no-pipelining", action="store_true", help="one SMTP command per round trip")
    args = parser.parse_args()
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "root", f"127.0.0.1:{port}", "1000"])
    url, data_dir = fresh_database(args.database_url or None)
    try:
        time.sleep(0.5)
        load_before = os.getloadavg()[0]
        expanded, elapsed, cpu, dialect = asyncio.run(run_campaign(url, data_dir, port, args.recipients,
                                                                   args.connections, args.dkim,
                                                                   not args.no_pipelining))
        ours = args.recipients / elapsed
        anchor = smtp_source(port, 20000, 4000)
    finally:
        sink.kill()
        sink.wait()
        drop_database(url)
    print(f"{dialect}: {args.recipients} recipients, expansion {expanded:.1f} s, publish→last accepted {elapsed:.1f} s"
          f" = {ours:.0f} msg/s (tracking on, DKIM {'on' if args.dkim else 'off'}, {args.connections} connections,"
          f" pipelining {'off' if args.no_pipelining else 'on'})")
    print(f"CPU of the sending process meanwhile: {cpu:.1f} s = {args.recipients / cpu:.0f} msg per CPU second;"
          f" load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"smtp-source → same smtp-sink: {anchor:.0f} msg/s; ratio {ours / anchor:.2f}")


if __name__ == "__main__":
    main()
