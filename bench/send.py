"""Send benchmark: a campaign of N recipients (default 100,000) from publish to the last message
accepted by Postfix's smtp-sink on loopback, tracking on; then Postfix's smtp-source into the same
sink as the physical anchor. Prints messages/s and the ratio.

    .venv/bin/python bench/send.py [--recipients 100000] [--connections 20] [--dkim] [--no-pipelining]
        [--database-url postgresql://…] [--serve] [--runs 1]

Two ways to send: by default one in-process worker with `--connections` SMTP connections (the
engine alone); with `--serve`, a real `sendhouse serve` as a user starts it, with default settings
(only the database and the relay set: `SENDHOUSE_WORKERS` worker processes, one per core, each with
the default SMTP connections), the campaign published over HTTP (`POST /v1/campaigns` with
`sendNow`) and timed from that request to the last message the sink accepted (polled in the
ledger). `--runs R` repeats the campaign and prints the median.
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
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx2
from _seed import (
    campaign_body,
    container,
    drop_database,
    fresh_database,
    scheduled_campaign,
    seed,
    verified_dkim_domain,
)
from api_load import Ledger
from api_read import VENV_BIN, serve_env, start_server, stop_server

from sendhouse.domain.times import utcnow
from sendhouse.scheduler import Scheduler
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from sendhouse.worker import Worker


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def run_campaign(
    url, data_dir, port, size, connections, dkim, pipelining=True
) -> tuple[float, float, float, str]:
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


async def seeded_list(url, data_dir, size, dkim) -> tuple[str, str]:
    """(API key, list id) of a project whose list holds `size` contacts (and a DKIM domain with --dkim)."""
    built = container(url, data_dir)
    try:
        project_id, list_id = await seed(built.db, size)
        await verified_dkim_domain(built, project_id, "example.com", dkim)
        _, key = await project_service.create_api_key(built.db, project_id=project_id)
        return key, list_id
    finally:
        await built.close()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants (Linux /proc)."""
    tick, total, todo = os.sysconf("SC_CLK_TCK"), 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
        todo += [int(c) for c in children]
    return total


def serve_campaign(url, data_dir, port, size, dkim) -> tuple[float, float, float]:
    """(0, publish→last accepted s, CPU s of serve and its children) for one campaign sent by `sendhouse serve`."""
    key, list_id = asyncio.run(seeded_list(url, data_dir, size, dkim))
    http_port = free_port()
    env = serve_env(
        url, data_dir, SENDHOUSE_SMTP_URL=f"smtp://127.0.0.1:{port}", SENDHOUSE_SEND_NOW_DELAY="0"
    )
    server = start_server(
        [str(VENV_BIN / "sendhouse"), "serve", "--port", str(http_port)],
        env,
        http_port,
        data_dir / "serve.log",
        "/healthz",
    )
    ledger = None
    try:
        t0, cpu0 = time.perf_counter(), process_tree_cpu(server.pid)
        created = httpx2.post(
            f"http://127.0.0.1:{http_port}/v1/campaigns",
            json=campaign_body(list_id),
            timeout=60,
            headers={"Authorization": f"Bearer {key}"},
        )
        if created.status_code not in (200, 201):
            raise RuntimeError(f"publish failed: {created.status_code} {created.text}")
        ledger = Ledger(url, created.json()["data"]["id"])
        while ledger.sent() < size:
            if time.perf_counter() - t0 > 3600:
                raise RuntimeError("the campaign did not finish within an hour")
            time.sleep(0.05)
        return 0.0, time.perf_counter() - t0, process_tree_cpu(server.pid) - cpu0
    finally:
        if ledger is not None:
            ledger.engine.dispose()
        stop_server(server)


def smtp_source(port: int, count: int, size: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [
            "smtp-source",
            "-m",
            str(count),
            "-s",
            "20",
            "-l",
            str(size),
            "-t",
            "to@example.test",
            "-f",
            "from@example.test",
            f"127.0.0.1:{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return count / (time.perf_counter() - t0)


def one_run(args, port: int) -> tuple[float, float, float, str]:
    """(expansion s, publish→done s, CPU s of this process, dialect) of one campaign on a fresh database."""
    url, data_dir = fresh_database(args.database_url or None)
    try:
        if args.serve:
            return (
                *serve_campaign(url, data_dir, port, args.recipients, args.dkim),
                "postgresql" if url.startswith("postgresql") else "sqlite",
            )
        return asyncio.run(
            run_campaign(
                url, data_dir, port, args.recipients, args.connections, args.dkim, not args.no_pipelining
            )
        )
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--dkim", action="store_true", help="sign every message (RSA-2048, verified domain)")
    parser.add_argument("--no-pipelining", action="store_true", help="one SMTP command per round trip")
    parser.add_argument(
        "--serve", action="store_true", help="send with a real `sendhouse serve`, default settings"
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "root", f"127.0.0.1:{port}", "1000"])
    try:
        time.sleep(0.5)
        load_before = os.getloadavg()[0]
        runs, anchors = [], []
        for _ in range(args.runs):
            runs.append(one_run(args, port))
            anchors.append(smtp_source(port, 20000, 4000))
    finally:
        sink.kill()
        sink.wait()
    report(args, runs, anchors, load_before)


def report(args, runs, anchors, load_before) -> None:
    elapsed, anchor = median(r[1] for r in runs), median(anchors)
    expanded, cpu, dialect, ours = (
        median(r[0] for r in runs),
        median(r[2] for r in runs),
        runs[0][3],
        args.recipients / median(r[1] for r in runs),
    )
    how = "sendhouse serve with default settings" if args.serve else f"{args.connections} connections"
    print(
        f"{dialect}: {args.recipients} recipients, expansion {expanded:.1f} s, publish→last accepted {elapsed:.1f} s"
        f" = {ours:.0f} msg/s (tracking on, DKIM {'on' if args.dkim else 'off'}, {how},"
        f" pipelining {'off' if args.no_pipelining else 'on'}; median of {len(runs)} runs:"
        f" {', '.join(f'{args.recipients / r[1]:.0f}' for r in runs)} msg/s)"
    )
    who = "serve and its child processes" if args.serve else "the sending process"
    print(
        f"CPU of {who} meanwhile: {cpu:.1f} s = {args.recipients / cpu:.0f} msg per CPU second;"
        f" load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(
        f"smtp-source → same smtp-sink: {anchor:.0f} msg/s (median of {len(anchors)}); ratio {ours / anchor:.2f}"
    )


if __name__ == "__main__":
    main()
