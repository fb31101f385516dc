"""Messages per second accepted over SMTP submission, against smtp-source → smtp-sink.

    .venv/bin/python bench/submission.py [--messages 2000] [--connections 10] [--no-tls] [--database-url postgresql://…]

The submission server runs in `sendhouse serve --no-worker` (a child process, with the HTTP side
beside it as in production) on a fresh database (SQLite by default). `--connections` aiosmtplib clients each open one
connection (STARTTLS with a self-signed certificate unless --no-tls, AUTH PLAIN with an SMTP key)
and send their share of `--messages` messages of about 4 KB; every 250 means a committed ledger
row. Then Postfix's smtp-source sends the same number of 4,000-byte messages over the same number
of sessions into Postfix's smtp-sink on loopback, in the same run, as the anchor. Prints both rates
and the ratio (goal ≥ 0.3), and the CPU time used per accepted message by the serve process tree
(supervisor and its children; on PostgreSQL also the server backends of the bench database) and by
the client, read from /proc. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import ssl
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._seed import container, drop_database, fresh_database
from sendhouse.services import projects, smtp_keys
from tests.support.smtp_sink import free_port
from tests.support.tls import self_signed

SENDHOUSE = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sendhouse")
BODY = ("This is a line of an ordinary transactional message sent by an app over SMTP.\n" * 50)[:3800]


def raw_message(n: int) -> bytes:
    return (
        (
            f"From: App <app@shop.example.com>\nTo: user{n}@example.org\nSubject: Order {n}\n"
            f"Message-ID: <bench-{n}@shop.example.com>\n\n{BODY}"
        )
        .replace("\n", "\r\n")
        .encode()
    )


TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its live descendants."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def backend_cpu(url: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to the bench database (0 on SQLite or
    when the server's processes are not readable here)."""
    if not url.startswith("postgresql"):
        return 0.0
    import sqlalchemy as sa

    base, name = url.rsplit("/", 1)
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://") + "/postgres")
    with admin.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        ).scalars()
        cpu = sum(tree_cpu(pid) for pid in pids)
    admin.dispose()
    return cpu


@contextmanager
def serving(url: str, data_dir: Path, port: int, cert: Path, key_file: Path):
    """`sendhouse serve --no-worker` with SMTP submission on `port`, until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": url,
            "SENDHOUSE_DATA_DIR": str(data_dir),
            "SENDHOUSE_SECRET_KEY": "bench-secret",
            "SENDHOUSE_SUBMISSION_SMTP": f"127.0.0.1:{port}",
            "SENDHOUSE_SUBMISSION_TLS_CERT": str(cert),
            "SENDHOUSE_SUBMISSION_TLS_KEY": str(key_file),
            "SENDHOUSE_SUBMISSION_RATE": "1000000",
        }
    )
    proc = subprocess.Popen(
        [SENDHOUSE, "serve", "--no-worker", "--port", str(free_port())],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


async def client(port: int, key: str, numbers: range, tls: bool) -> None:
    """One connection: EHLO, STARTTLS, AUTH PLAIN, then the messages pipelined (RFC 2920, which the
    server offers): MAIL, RCPT and DATA in one write; after the 354 the data, its final dot and the
    next message's MAIL, RCPT and DATA in one write. Every reply is read and checked in order: each
    message must get its 250 with an email id ("queued as …")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _expect(reader, 220)
        writer.write(b"EHLO bench.example\r\n")
        await _expect(reader, 250)
        if tls:
            writer.write(b"STARTTLS\r\n")
            await _expect(reader, 220)
            await writer.start_tls(_client_tls())
            writer.write(b"EHLO bench.example\r\n")
            if "PIPELINING" not in await _expect(reader, 250):
                raise RuntimeError("the server does not offer PIPELINING")
        writer.write(b"AUTH PLAIN " + base64.b64encode(b"\0autosend\0" + key.encode()) + b"\r\n")
        await _expect(reader, 235)
        await _send_pipelined(reader, writer, numbers)
        writer.write(b"QUIT\r\n")
        await _expect(reader, 221)
    finally:
        writer.close()


async def _send_pipelined(reader, writer, numbers: range) -> None:
    envelopes = [
        f"MAIL FROM:<app@shop.example.com>\r\nRCPT TO:<user{n}@example.org>\r\nDATA\r\n".encode()
        for n in numbers
    ]
    writer.write(envelopes[0])
    for i, n in enumerate(numbers):
        await _expect(reader, 250)
        await _expect(reader, 250)
        await _expect(reader, 354)
        writer.write(_data(raw_message(n)) + (envelopes[i + 1] if i + 1 < len(envelopes) else b""))
        if "queued as" not in await _expect(reader, 250):
            raise RuntimeError("a 250 without an email id")


def _data(raw: bytes) -> bytes:
    """The DATA payload: dot-stuffed, ending with CRLF.CRLF."""
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    return (b"." + stuffed if stuffed.startswith(b".") else stuffed) + b"\r\n.\r\n"


async def _expect(reader: asyncio.StreamReader, code: int) -> str:
    """Read one (possibly multi-line) reply; its text, or RuntimeError when the code differs."""
    lines = []
    while True:
        line = (await reader.readline()).decode()
        if not line:
            raise RuntimeError(f"connection closed, expected {code}")
        lines.append(line)
        if line[3:4] != "-":
            break
    if int(lines[-1][:3]) != code:
        raise RuntimeError(f"expected {code}, got {''.join(lines).strip()}")
    return "".join(lines)


def _client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


async def submit_all(port: int, key: str, messages: int, connections: int, tls: bool) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(client(port, key, range(i, messages, connections), tls) for i in range(connections))
    )
    return messages / (time.perf_counter() - started)


def anchor(messages: int, connections: int) -> float:
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "root", f"127.0.0.1:{port}", "1000"])
    try:
        time.sleep(0.5)
        started = time.perf_counter()
        subprocess.run(
            [
                "smtp-source",
                "-m",
                str(messages),
                "-s",
                str(connections),
                "-l",
                "4000",
                "-t",
                "to@example.test",
                "-f",
                "from@example.test",
                f"127.0.0.1:{port}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return messages / (time.perf_counter() - started)
    finally:
        sink.terminate()
        sink.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--no-tls", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url, data_dir = fresh_database(args.database_url or None)
    cert, key_file = self_signed(data_dir / "tls")
    built = container(
        url,
        data_dir,
        submission_tls_cert=str(cert),
        submission_tls_key=str(key_file),
        submission_rate=1_000_000,
    )

    async def setup() -> str:
        project = await projects.create_project(built.db, name="bench")
        secret = (await smtp_keys.create_key(built.db, project_id=project["id"]))[1]
        await built.close()
        return secret

    key = asyncio.run(setup())
    port = free_port()
    try:
        with serving(url, data_dir, port, cert, key_file) as proc:
            before = (tree_cpu(proc.pid), backend_cpu(url), time.process_time())
            ours = asyncio.run(submit_all(port, key, args.messages, args.connections, not args.no_tls))
            after = (tree_cpu(proc.pid), backend_cpu(url), time.process_time())
        theirs = anchor(args.messages, args.connections)
    finally:
        drop_database(url)
    kind = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(
        f"submission ({kind}, {args.connections} connections, {'no TLS' if args.no_tls else 'STARTTLS'}): "
        f"{args.messages} messages, {ours:.0f} msg/s accepted (each a committed ledger row)"
    )
    server, backends, client_cpu = (
        1000 * (b - a) / args.messages for a, b in zip(before, after, strict=True)
    )
    print(
        f"CPU per accepted message: serve {server:.2f} ms"
        + (f", PostgreSQL backends {backends:.2f} ms" if url.startswith("postgresql") else "")
        + f", client {client_cpu:.2f} ms; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"smtp-source → smtp-sink ({args.connections} sessions): {theirs:.0f} msg/s; ratio {ours / theirs:.2f}"
    )


if __name__ == "__main__":
    main()
