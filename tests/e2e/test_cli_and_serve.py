"""The command line and a live `sendhouse serve` process, as a new user meets them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

SENDHOUSE = str(Path(sys.executable).parent / "sendhouse")


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update({"SENDHOUSE_DATABASE_URL": db_url, "SENDHOUSE_DATA_DIR": str(data_dir)})
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SENDHOUSE, *args], check=False, env=env, capture_output=True, text=True, timeout=60
    )


def test_projects_and_keys_commands(db_url, tmp_path):
    env = _env(db_url, tmp_path)
    created = _run(["projects", "create", "shop"], env)
    assert created.returncode == 0, created.stderr
    project_id = created.stdout.strip().splitlines()[-1]
    assert len(project_id) == 24
    for selector in ("shop", project_id):
        key = _run(["keys", "create", "--project", selector], env)
        assert key.returncode == 0 and key.stdout.strip().splitlines()[-1].startswith("AS_")
    account = _run(["keys", "create", "--project", "shop", "--account"], env)
    assert account.stdout.strip().splitlines()[-1].startswith("ASA_")
    missing = _run(["keys", "create", "--project", "nope"], env)
    assert missing.returncode == 1 and "nope" in missing.stderr


def test_cli_errors_say_what_is_wrong(db_url, tmp_path):
    env = _env(db_url, tmp_path)
    short = _run(["users", "create", "ada@shop.example", "--password", "short"], env)
    assert short.returncode == 1
    assert (
        "error: Password: the password must be 10 to" in short.stderr
        and "Validation failed" not in short.stderr
    )


def test_migrate_command_is_idempotent(db_url, tmp_path):
    env = _env(db_url, tmp_path)
    assert _run(["migrate"], env).returncode == 0
    assert _run(["migrate"], env).returncode == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_key(proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip().startswith("AS_"):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    raise AssertionError("serve never printed a key")


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not come up")


@pytest.fixture
def fresh_sqlite_server(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env["SENDHOUSE_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [SENDHOUSE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        key = _wait_for_key(proc)
        _wait_until_up(f"http://127.0.0.1:{port}/openapi.json")
        yield f"http://127.0.0.1:{port}", key, env
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_first_serve_creates_default_project_and_prints_a_key(fresh_sqlite_server):
    base, key, _env = fresh_sqlite_server
    response = httpx2.get(f"{base}/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json()["success"] is True
    unauthorized = httpx2.get(f"{base}/v1/campaigns")
    assert unauthorized.status_code == 401


def test_serve_prints_the_dashboard_and_derives_the_public_url_from_its_port(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env["SENDHOUSE_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [SENDHOUSE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        while not any("Public URL" in line for line in lines) and proc.poll() is None and len(lines) < 40:
            lines.append(proc.stdout.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = "".join(lines)
    assert f"Sendhouse listening on http://127.0.0.1:{port} · dashboard: http://127.0.0.1:{port}/app/" in text
    assert (
        f"Public URL for tracking and unsubscribe links: http://127.0.0.1:{port} (from --host/--port" in text
    )


def test_campaign_lifecycle_over_http(fresh_sqlite_server):
    base, key, _env = fresh_sqlite_server
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": '<p>Hi {{first_name | "there"}}</p>',
        "from": {"email": "news@example.com", "name": "News"},
        "sendToGlobalList": True,
        "scheduledAt": "2099-01-01T09:00:00Z",
    }
    created = httpx2.post(f"{base}/v1/campaigns", json=body, headers=headers).json()["data"]
    assert created["status"] == "scheduled" and created["id"] == created["campaignId"]
    cid = created["id"]
    draft = httpx2.post(f"{base}/v1/campaigns", json={**body, "scheduledAt": None}, headers=headers).json()[
        "data"
    ]
    refused = httpx2.post(f"{base}/v1/campaigns/{draft['id']}/abort", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CAMPAIGN_NOT_ABORTABLE"
    aborted = httpx2.post(f"{base}/v1/campaigns/{cid}/abort", headers=headers)
    assert aborted.status_code == 200 and aborted.json()["data"]["status"] == "aborted"
    full = httpx2.get(f"{base}/v1/campaigns/{cid}", headers=headers).json()["data"]
    assert full["abortedAt"] is not None
    again = httpx2.post(f"{base}/v1/campaigns/{cid}/abort", headers=headers)
    assert again.status_code == 200 and again.json()["data"]["status"] == "aborted"
