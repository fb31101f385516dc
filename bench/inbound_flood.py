"""GET /healthz latency while the inbound SMTP receiver is flooded with bounce reports.

    .venv/bin/python bench/inbound_flood.py [--clients 12] [--messages 5] [--size 250000]

Serves the whole app with uvicorn on 127.0.0.1 (the receiver runs on the same event loop, as in
`sendhouse serve`), then: (1) probes /healthz alone for a baseline, (2) floods the receiver from
`--clients` SMTP connections, each sending `--messages` reports of `--size` bytes to one VERP
address repeated in 10 RCPTs, while probing /healthz every 20 ms. Prints the latency percentiles
of both phases and how many reports were accepted. All traffic stays on loopback and ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

import aiosmtplib
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._seed import container, fresh_database
from sendhouse.domain import ids, tokens
from sendhouse.smtpd.inbound import inbound_part
from tests.support.live_server import LiveServer
from tests.support.reports import dsn
from tests.support.smtp_sink import free_port


def probe(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx2.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(url + "/healthz").raise_for_status()
            out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)


async def flood_client(port: int, rcpt: str, raw: bytes, messages: int) -> int:
    accepted = 0
    for _ in range(messages):
        try:
            async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120) as client:
                await client.sendmail("", [rcpt] * 10, raw)
            accepted += 1
        except aiosmtplib.SMTPException:
            pass
    return accepted


def report(name: str, values: list[float]) -> None:
    q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    print(
        f"{name:>9}: {len(values)} probes, p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max {max(values):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--size", type=int, default=250_000)
    args = parser.parse_args()
    url, data_dir = fresh_database(None)
    built = container(url, data_dir, public_url="http://sendhouse.test")
    port = free_port()
    rcpt = tokens.bounce_address("bench-secret", ids.new_id(), "sendhouse.test")
    base = dsn(to=rcpt, recipient="gone@example.com")
    raw = b"X-Padding: " + b"a" * 900 + b"\r\n"
    raw = raw * max(0, (args.size - len(base)) // len(raw)) + base
    with LiveServer(built.settings, background=[lambda c: inbound_part(c, f"127.0.0.1:{port}")]) as server:
        idle, flooded, stop = [], [], threading.Event()
        thread = threading.Thread(target=probe, args=(server.url, stop, idle))
        thread.start()
        time.sleep(2)
        stop.set()
        thread.join()
        stop = threading.Event()
        thread = threading.Thread(target=probe, args=(server.url, stop, flooded))
        thread.start()

        async def flood() -> int:
            return sum(
                await asyncio.gather(
                    *(flood_client(port, rcpt, raw, args.messages) for _ in range(args.clients))
                )
            )

        started = time.perf_counter()
        accepted = asyncio.run(flood())
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join()
    print(
        f"flood: {args.clients} clients x {args.messages} reports of {len(raw)} bytes, 10 RCPTs each: "
        f"{accepted} accepted in {elapsed:.1f} s"
    )
    report("idle", idle)
    report("flooded", flooded)


if __name__ == "__main__":
    main()
