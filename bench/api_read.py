"""API read benchmark: GET /v1/campaigns/{id} requests per second and p99 latency under wrk against
a live `sendhouse serve --no-worker` on SQLite, beside a bare Starlette endpoint (uvicorn, same
options) answering the same JSON body for the same path, measured with the same wrk settings in
the same run; and a minimal FastAPI endpoint (the same path parameter, one dependency, no work) as
the framework's own floor, so the ratio shows how much of the gap is FastAPI itself. Also holds the wrk and server helpers bench/api_load.py uses.

    .venv/bin/python bench/api_read.py [--duration 10] [--connections 32] [--threads 2]

The server runs with SENDHOUSE_RATE_LIMIT=1000000000: the per-key limit (default 100 req/s) would
otherwise answer most requests with 429. The last line printed is a JSON object (bench/run_all.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _seed import container, drop_database, fresh_database, scheduled_campaign, seed

from sendhouse.services import projects as project_service

VENV_BIN = Path(sys.executable).parent
BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
BODY = open(sys.argv[2], "rb").read()
async def campaign(request):
    return Response(BODY, media_type="application/json")
app = Starlette(routes=[Route("/v1/campaigns/{campaign_id}", campaign)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", proxy_headers=True, log_config=None)
"""
# The framework's own floor: FastAPI with the same path parameter and one dependency reading the
# Authorization header, answering the same body (no auth, database, middleware or logging).
FASTAPI_APP = """
import sys, uvicorn
from fastapi import Depends, FastAPI, Request
from starlette.responses import Response
BODY = open(sys.argv[2], "rb").read()
app = FastAPI()
async def principal(request: Request):
    return request.headers.get("authorization")
@app.get("/v1/campaigns/{campaign_id}")
async def campaign(campaign_id: str, who=Depends(principal)):
    return Response(BODY, media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", proxy_headers=True, log_config=None)
"""
# wrk: request the given paths in turn (weights by repetition) and count replies by class per thread.
LUA = """
local paths = {%s}
local threads = {}
local counter = 0
function setup(thread) table.insert(threads, thread) end
function init(args) s5 = 0; s429 = 0; s4 = 0 end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1], {["Authorization"] = "Bearer %s"})
end
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status == 429 then s429 = s429 + 1 elseif status >= 400 then s4 = s4 + 1 end
end
function done(summary, latency, requests)
  local t5, t429, t4 = 0, 0, 0
  for _, t in ipairs(threads) do t5 = t5 + t:get("s5"); t429 = t429 + t:get("s429"); t4 = t4 + t:get("s4") end
  io.write(string.format("STATUS 5xx=%%d 429=%%d 4xx=%%d\\n", t5, t429, t4))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wrk_script(folder: Path, name: str, paths: list[str], key: str) -> Path:
    script = folder / f"{name}.lua"
    script.write_text(LUA % (", ".join(json.dumps(p) for p in paths), key))
    return script


def run_wrk(port: int, script: Path, *, threads: int, connections: int, duration: int) -> dict:
    """wrk's figures: rps, p99_ms, requests, 5xx / 429 / other 4xx counts, socket errors."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 120).stdout
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    status = re.search(r"STATUS 5xx=(\d+) 429=(\d+) 4xx=(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)],
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "5xx": int(status.group(1)),
        "429": int(status.group(2)),
        "4xx": int(status.group(3)),
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def start_server(
    cmd: list[str], env: dict, port: int, log: Path, probe: str, timeout: float = 90
) -> subprocess.Popen:
    """Start a server (output to `log`: an unread pipe would stall it) and wait until `probe` answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}; see {log}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}{probe}", timeout=2)
            return proc
        except httpx2.HTTPError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"server did not start; see {log}")


def stop_server(proc: subprocess.Popen, timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def serve_env(url: str, data_dir: Path, **extra) -> dict:
    return {
        **os.environ,
        "SENDHOUSE_DATABASE_URL": url,
        "SENDHOUSE_DATA_DIR": str(data_dir),
        "SENDHOUSE_SECRET_KEY": "bench-secret",
        "SENDHOUSE_RATE_LIMIT": "1000000000",
        **extra,
    }


async def project_with_campaign(url: str, data_dir: Path, size: int, **overrides) -> tuple[str, str, str]:
    """(project id, API key, campaign id) of a draft campaign to a list of `size` contacts."""
    built = container(url, data_dir, **overrides)
    try:
        project_id, list_id = await seed(built.db, size)
        _, key = await project_service.create_api_key(built.db, project_id=project_id)
        return project_id, key, await scheduled_campaign(built.db, project_id, list_id)
    finally:
        await built.close()


def _reference(folder: Path, name: str, source: str, path: str, script: Path, wrk: dict) -> dict:
    """wrk against a reference server (`source`, run as a script: port, body file) answering `path`."""
    port = free_port()
    (folder / f"{name}.py").write_text(source)
    server = start_server(
        [sys.executable, str(folder / f"{name}.py"), str(port), str(folder / "body.json")],
        dict(os.environ),
        port,
        folder / f"{name}.log",
        path,
    )
    try:
        return run_wrk(port, script, **wrk)
    finally:
        stop_server(server)


def measure(args, folder: Path, url: str, data_dir: Path) -> tuple[dict, dict, dict]:
    """wrk figures of (sendhouse serve, bare Starlette, minimal FastAPI) for the same path and body."""
    _, key, cid = asyncio.run(project_with_campaign(url, data_dir, 100))
    path, port = f"/v1/campaigns/{cid}", free_port()
    script = wrk_script(folder, "campaign", [path], key)
    wrk = {"threads": args.threads, "connections": args.connections, "duration": args.duration}
    server = start_server(
        [str(VENV_BIN / "sendhouse"), "serve", "--no-worker", "--port", str(port)],
        serve_env(url, data_dir),
        port,
        folder / "serve.log",
        "/healthz",
    )
    try:
        body = httpx2.get(
            f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {key}"}
        ).content
        ours = run_wrk(port, script, **wrk)
    finally:
        stop_server(server)
    (folder / "body.json").write_bytes(body)
    bare = _reference(folder, "bare", BARE_APP, path, script, wrk)
    return ours, bare, _reference(folder, "minimal_fastapi", FASTAPI_APP, path, script, wrk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    url, data_dir = fresh_database(None)
    try:
        ours, bare, floor = measure(args, data_dir, url, data_dir)
    finally:
        drop_database(url)
    named = (
        ("GET /v1/campaigns/{id}", ours),
        ("bare Starlette, same body", bare),
        ("minimal FastAPI", floor),
    )
    for name, found in named:
        print(
            f"{name:<28} {found['rps']:>8.0f} req/s  p99 {found['p99_ms']:>8.2f} ms  ({found['requests']} requests, "
            f"{found['5xx']} 5xx, {found['429']} 429, {found['socket_errors']} socket errors)"
        )
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s; ratio {ours['rps'] / bare['rps']:.2f}"
        f" (minimal FastAPI: {floor['rps'] / bare['rps']:.2f})"
    )
    print(
        json.dumps(
            {
                "bench": "api_read",
                "results": [
                    {
                        "figure": "API GET /v1/campaigns/{id}",
                        "unit": "req/s",
                        "value": ours["rps"],
                        "baseline": bare["rps"],
                        "baseline_name": "bare Starlette endpoint",
                        "higher_is_better": True,
                    },
                    {
                        "figure": "minimal FastAPI endpoint (path parameter, one dependency, no work)",
                        "unit": "req/s",
                        "value": floor["rps"],
                        "baseline": bare["rps"],
                        "baseline_name": "bare Starlette endpoint",
                        "higher_is_better": True,
                    },
                    {
                        "figure": "API GET /v1/campaigns/{id} p99",
                        "unit": "ms",
                        "value": ours["p99_ms"],
                        "baseline": bare["p99_ms"],
                        "baseline_name": "bare Starlette endpoint",
                        "higher_is_better": False,
                    },
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
