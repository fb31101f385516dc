"""Tracking benchmark: open-pixel and click requests per second and p99 latency under wrk, against
a real `sendhouse serve --no-worker` subprocess on SQLite, beside a bare Starlette endpoint (the
same GIF, served by uvicorn with the same options) measured the same way in the same run. Then the
server is stopped cleanly (SIGTERM) and the opens and clicks stored are compared with the requests
wrk completed (the Recorder writes in batches and flushes on shutdown).

    .venv/bin/python bench/tracking.py [--recipients 2000] [--duration 10] [--connections 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seed import container, fresh_database, scheduled_campaign, seed

from sendhouse.domain import tokens
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events

SECRET = "bench-secret"
VENV_BIN = Path(sys.executable).parent
BARE_APP = """
import base64
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
HEADERS = {"Cache-Control": "no-cache, no-store, must-revalidate, max-age=0", "Pragma": "no-cache", "Expires": "0"}
async def pixel(request):
    return Response(GIF, media_type="image/gif", headers=HEADERS)
app = Starlette(routes=[Route("/t/o/{token}", pixel)])
if __name__ == "__main__":
    import sys, uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", proxy_headers=True, log_config=None)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def seeded_rows(url: str, data_dir: Path, size: int) -> list[str]:
    """A sent campaign of `size` recipients; its ledger row ids."""
    built = container(url, data_dir)
    try:
        project_id, list_id = await seed(built.db, size)
        cid = await scheduled_campaign(built.db, project_id, list_id)
        await campaign_service.start_campaign(built.db, cid, utcnow())
        async with built.db.write() as conn:
            await conn.execute(
                messages.update().where(messages.c.campaign_id == cid).values(status="sent", sent_at=utcnow())
            )
            return list(
                (await conn.execute(sa.select(messages.c.id).where(messages.c.campaign_id == cid))).scalars()
            )
    finally:
        await built.close()


def lua_script(paths: list[str], folder: Path, name: str) -> Path:
    """A wrk script that requests the given paths in random order."""
    quoted = ",\n".join(f'"{p}"' for p in paths)
    script = folder / f"{name}.lua"
    script.write_text(
        f"local paths = {{\n{quoted}\n}}\nmath.randomseed(42)\n"
        "request = function()\n  return wrk.format('GET', paths[math.random(#paths)])\nend\n"
    )
    return script


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/t/o/x", timeout=1).status_code in (200, 404):
                return
        except httpx2.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def run_wrk(port: int, script: Path, args) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=args.duration + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    done = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "requests": done,
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def start(cmd: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    """Start a server (its output goes to `log`: a pipe nobody reads would stall it) and wait for it."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=sink)
    wait_listening(port, proc)
    return proc


def stop(proc: subprocess.Popen, timeout: float = 600) -> float:
    """SIGTERM and wait for the clean shutdown (the recorder's last flush); seconds it took."""
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"server still running {timeout:.0f} s after SIGTERM: killed (unflushed hits are lost)")
        proc.kill()
        proc.wait()
    return time.perf_counter() - t0


async def stored(url: str, data_dir: Path) -> dict[str, int]:
    built = container(url, data_dir)
    try:
        async with built.db.read() as conn:
            query = sa.select(message_events.c.type, sa.func.count()).group_by(message_events.c.type)
            return dict((await conn.execute(query)).all())
    finally:
        await built.close()


def report(name: str, found: dict) -> None:
    print(
        f"{name:<34} {found['rps']:>9.0f} req/s   p99 {found['p99_ms']:>7.2f} ms   "
        f"({found['requests']} requests, {found['errors']} non-2xx/3xx)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    url, data_dir = fresh_database(None)
    rows = asyncio.run(seeded_rows(url, data_dir, args.recipients))
    work = Path(tempfile.mkdtemp(prefix="sendhouse-bench-wrk-"))
    opens = lua_script([tokens.OPEN_PATH + tokens.sign_open(SECRET, r) for r in rows], work, "opens")
    clicks = lua_script(
        [tokens.CLICK_PATH + tokens.sign_click(SECRET, r, "https://example.com/a") for r in rows],
        work,
        "clicks",
    )
    (work / "bare.py").write_text(BARE_APP)
    env = {
        **os.environ,
        "SENDHOUSE_DATA_DIR": str(data_dir),
        "SENDHOUSE_DATABASE_URL": url,
        "SENDHOUSE_SECRET_KEY": SECRET,
        "SENDHOUSE_PUBLIC_URL": "http://127.0.0.1",
    }

    bare_port = free_port()
    bare = start([sys.executable, str(work / "bare.py"), str(bare_port)], env, bare_port, work / "bare.log")
    try:
        bare_result = run_wrk(bare_port, opens, args)
    finally:
        stop(bare)
    port = free_port()
    server = start(
        [str(VENV_BIN / "sendhouse"), "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)],
        env,
        port,
        work / "serve.log",
    )
    try:
        open_result = run_wrk(port, opens, args)
        click_result = run_wrk(port, clicks, args)
    finally:
        shutdown = stop(server)
    kept = asyncio.run(stored(url, data_dir))

    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.recipients} distinct tokens, "
        f"SQLite, {os.cpu_count()} CPUs"
    )
    report("bare Starlette pixel (uvicorn)", bare_result)
    report("sendhouse serve: open pixel", open_result)
    report("sendhouse serve: click redirect", click_result)
    print(
        f"pixel vs bare Starlette: {open_result['rps'] / bare_result['rps']:.0%} of the requests per second"
    )
    print(f"clean shutdown took {shutdown:.1f} s")
    print(
        f"stored after SIGTERM: {kept.get('opened', 0)} opens for {open_result['requests']} pixel requests, "
        f"{kept.get('clicked', 0)} clicks for {click_result['requests']} click requests"
    )
    goal = open_result["rps"] >= 3000 and open_result["p99_ms"] < 20
    print(f"goal (pixel ≥ 3,000 req/s with p99 < 20 ms): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
