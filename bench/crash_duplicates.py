"""Duplicates per kill -9: a `sendhouse worker` process is SIGKILLed --kills times at random moments
while it sends a campaign into an aiosmtpd server that records every copy, and restarted each
time; at the end every recipient must have mail, and the second copies per kill are printed beside
the bound the design promises (2 × SMTP connections per killed worker).

    .venv/bin/python bench/crash_duplicates.py [--recipients 20000] [--kills 5] [--connections 8]
                                               [--database-url postgresql://…]

The last line printed is a JSON object (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _seed import container, drop_database, fresh_database, scheduled_campaign, seed

from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from tests.support.smtp_sink import SmtpSink


def spawn(url: str, data_dir: Path, sink: SmtpSink, connections: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SENDHOUSE_DATABASE_URL": url,
        "SENDHOUSE_DATA_DIR": str(data_dir),
        "SENDHOUSE_SMTP_URL": sink.url,
        "SENDHOUSE_SMTP_CONNECTIONS": str(connections),
        "SENDHOUSE_SECRET_KEY": "bench-secret",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sendhouse", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await asyncio.sleep(0.05)


async def run(args) -> dict:
    url, data_dir = fresh_database(args.database_url)
    box = container(url, data_dir)
    rng = random.Random(args.seed)
    try:
        project_id, list_id = await seed(box.db, args.recipients)
        cid = await scheduled_campaign(box.db, project_id, list_id)
        await campaign_service.start_campaign(box.db, cid, utcnow())
        with SmtpSink() as sink:
            for _ in range(args.kills):
                target = len(sink.messages) + rng.randint(args.recipients // 40, args.recipients // 8)
                proc = spawn(url, data_dir, sink, args.connections)

                async def reached(target=target, proc=proc):
                    return len(sink.messages) >= target or proc.poll() is not None

                await wait_until(reached, 300)
                proc.kill()
                proc.wait()
            proc = spawn(url, data_dir, sink, args.connections)

            async def finished():
                return (await campaign_service.get_campaign(box.db, project_id, cid))["status"] == "sent"

            await wait_until(finished, 600)
            proc.terminate()
            proc.wait()
            copies = sink.recipients()
    finally:
        await box.close()
        drop_database(url)
    missed = args.recipients - len(copies)
    extra = sum(n - 1 for n in copies.values())
    return {"missed": missed, "extra": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    found = asyncio.run(run(args))
    bound = 2 * args.connections
    per_kill = found["extra"] / args.kills
    kind = "postgresql" if args.database_url else "sqlite"
    print(
        f"{kind}: {args.recipients} recipients, {args.kills} kills: missed {found['missed']}, "
        f"second copies {found['extra']} = {per_kill:.1f} per kill (bound {bound} = 2 x {args.connections} connections)"
    )
    print(
        json.dumps(
            {
                "bench": "crash_duplicates",
                "results": [
                    {
                        "figure": f"second copies per kill -9 ({kind}, {args.connections} connections)",
                        "unit": "messages",
                        "value": round(per_kill, 1),
                        "baseline": bound,
                        "baseline_name": "the bound: 2 x SMTP connections",
                        "higher_is_better": False,
                    }
                ],
            }
        )
    )
    if found["missed"] or per_kill > bound:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
