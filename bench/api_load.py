"""API load while a campaign sends: one `sendhouse serve` (the supervisor with its api process and
its worker processes, the default deployment) sends a campaign of N recipients into Postfix's
smtp-sink on loopback; the campaign's throughput is measured over a quiet window, then over a
window in which wrk drives 200 concurrent connections at a mix of API reads for D seconds. Prints
requests/s, p99, the count of 5xx replies, and both throughputs (same campaign, same run).

    .venv/bin/python bench/api_load.py [--recipients 20000] [--duration 60] [--quiet 20] [--connections 200]
        [--database-url postgresql://…]

The mix, in turn: GET /v1/campaigns/{id} ×4, GET /v1/campaigns?page=1&limit=10 ×2,
GET /v1/campaigns/{id}/analytics, GET /v1/contact-lists. The per-key rate limit is lifted
(SENDHOUSE_RATE_LIMIT=1000000000) so every request reaches the handlers. The last line printed is a
JSON object (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seed import drop_database, fresh_database
from api_read import (
    VENV_BIN,
    free_port,
    project_with_campaign,
    run_wrk,
    serve_env,
    start_server,
    stop_server,
    wrk_script,
)

from sendhouse.store.db import sync_url


class Ledger:
    """Counts of the campaign's rows, read with a plain synchronous connection."""

    def __init__(self, url: str, campaign_id: str):
        self.engine, self.campaign_id = sa.create_engine(sync_url(url)), campaign_id

    def sent(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM messages WHERE campaign_id = :c AND status = 'sent'"),
                {"c": self.campaign_id},
            ).scalar_one()

    def window(self, seconds: float) -> tuple[int, float]:
        """(messages sent, seconds) over a quiet window of about `seconds`."""
        before, t0 = self.sent(), time.perf_counter()
        time.sleep(seconds)
        return self.sent() - before, time.perf_counter() - t0

    def wait_started(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while self.sent() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the campaign did not start sending")
            time.sleep(0.5)


def mix(cid: str) -> list[str]:
    one, page = f"/v1/campaigns/{cid}", "/v1/campaigns?page=1&limit=10"
    return [one, page, one, f"/v1/campaigns/{cid}/analytics", one, page, one, "/v1/contact-lists"]


def measure(args, folder: Path, url: str) -> dict:
    _, key, cid = asyncio.run(project_with_campaign(url, folder, args.recipients))
    port, smtp_port = free_port(), free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "root", f"127.0.0.1:{smtp_port}", "1000"])
    env = serve_env(
        url, folder, SENDHOUSE_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", SENDHOUSE_SMTP_CONNECTIONS="20"
    )
    server = start_server(
        [str(VENV_BIN / "sendhouse"), "serve", "--port", str(port)],
        env,
        port,
        folder / "serve.log",
        "/healthz",
    )
    ledger = Ledger(url, cid)
    try:
        ledger.wait_started()
        quiet = ledger.window(args.quiet)
        before, t0 = ledger.sent(), time.perf_counter()
        api = run_wrk(
            port,
            wrk_script(folder, "mix", mix(cid), key),
            threads=2,
            connections=args.connections,
            duration=args.duration,
        )
        loaded = (ledger.sent() - before, time.perf_counter() - t0)
        left = args.recipients - ledger.sent()
    finally:
        stop_server(server)
        sink.kill()
        sink.wait()
        ledger.engine.dispose()
    return {"api": api, "quiet": quiet, "loaded": loaded, "left": left}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--quiet", type=int, default=20)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url, data_dir = fresh_database(args.database_url or None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            found = measure(args, Path(tmp) if args.database_url else data_dir, url)
    finally:
        drop_database(url)
    report(args, found)


def report(args, found: dict) -> None:
    api, quiet_rate = found["api"], found["quiet"][0] / found["quiet"][1]
    loaded_rate = found["loaded"][0] / found["loaded"][1]
    print(
        f"API under load (wrk -t2 -c{args.connections} -d{args.duration}s, read mix): {api['rps']:.0f} req/s, "
        f"p99 {api['p99_ms']:.1f} ms, {api['requests']} requests, {api['5xx']} 5xx, {api['429']} 429, "
        f"{api['4xx']} other 4xx, {api['socket_errors']} socket errors"
    )
    print(
        f"campaign throughput: {quiet_rate:.0f} msg/s without API load ({found['quiet'][0]} in {found['quiet'][1]:.1f} s), "
        f"{loaded_rate:.0f} msg/s under it ({found['loaded'][0]} in {found['loaded'][1]:.1f} s)"
    )
    valid = found["left"] > 0
    if not valid:
        print("WARNING: the campaign finished before the load window ended; raise --recipients")
    print(
        json.dumps(
            {
                "bench": "api_load",
                "valid": valid,
                "results": [
                    {
                        "figure": f"campaign throughput under API load (-c{args.connections})",
                        "unit": "msg/s",
                        "value": loaded_rate,
                        "baseline": quiet_rate,
                        "baseline_name": "same campaign, no API load",
                        "higher_is_better": True,
                    },
                    {
                        "figure": "API read mix while sending",
                        "unit": "req/s",
                        "value": api["rps"],
                        "baseline": None,
                        "baseline_name": None,
                        "higher_is_better": True,
                    },
                    {
                        "figure": "API read mix while sending, p99",
                        "unit": "ms",
                        "value": api["p99_ms"],
                        "baseline": None,
                        "baseline_name": None,
                        "higher_is_better": False,
                    },
                    {
                        "figure": "API 5xx replies while sending",
                        "unit": "count",
                        "value": api["5xx"],
                        "baseline": None,
                        "baseline_name": None,
                        "higher_is_better": False,
                    },
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
