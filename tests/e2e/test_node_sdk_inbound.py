"""The official AutoSend Node SDK's inbound calls (inboundEmails.list / get /
getAttachmentDownloadUrl / reply) against a live `sendhouse serve` whose inbound receiver got a
message with an attachment over SMTP (smtplib); the signed download URL returns the bytes exactly."""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
from pathlib import Path

import httpx2
import pytest

from tests.e2e.test_node_sdk import NODE_DIR, SENDHOUSE, _env, _wait_until_up
from tests.support.inbound_data import message
from tests.support.smtp_sink import free_port

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    folder = tmp_path_factory.mktemp("node-sdk-inbound")
    for name in ("package.json", "inbound_flow.mjs"):
        shutil.copy(NODE_DIR / name, folder / name)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder


def _cli(env: dict, *args: str) -> str:
    done = subprocess.run(
        [SENDHOUSE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_node_sdk_reads_the_inbox_and_replies(sdk_dir, db_url, tmp_path):
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(db_url, tmp_path / "data", "capture")
    env.update(
        {
            "SENDHOUSE_INBOUND_SMTP": f"127.0.0.1:{smtp_port}",
            "SENDHOUSE_BOUNCE_DOMAIN": "bounces.example.com",
            "SENDHOUSE_PUBLIC_URL": base,
        }
    )
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [SENDHOUSE, "serve", "--no-worker", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(base, proc)
            project_id = _cli(env, "projects", "create", "inbox-e2e").split()[-1]
            key = _cli(env, "keys", "create", "--project", "inbox-e2e")
            address = f"desk@{project_id}.bounces.example.com"
            raw = message(
                sender="Ann <ann@example.org>",
                to=address,
                subject="Your receipt",
                attachments=(("receipt.pdf", "application/pdf", PDF),),
            )
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                client.sendmail("ann@example.org", [address], raw)
            flow = subprocess.run(
                ["node", "inbound_flow.mjs"],
                cwd=sdk_dir,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
                env={**os.environ, "AUTOSEND_BASE_URL": f"{base}/v1", "AUTOSEND_API_KEY": key},
            )
            assert flow.returncode == 0, flow.stderr
            out = json.loads(flow.stdout.strip().splitlines()[-1])
            [item] = out["list"]["data"]["items"]
            assert item["subject"] == "Your receipt" and out["list"]["data"]["pagination"]["total"] == 1
            got = out["get"]["data"]
            assert got["from"] == {"email": "ann@example.org", "name": "Ann"} and got["attachments"][0][
                "size"
            ] == len(PDF)
            for link in (out["byIndex"]["data"], out["byId"]["data"]):
                assert link["expiresIn"] == 900 and httpx2.get(link["downloadUrl"], timeout=30).content == PDF
            assert out["reply"]["success"] is True and out["reply"]["data"]["status"] == "QUEUED"
            assert out["missing"]["success"] is False and out["missing"]["statusCode"] == 404
        finally:
            proc.terminate()
            proc.wait(timeout=60)
