"""The official AutoSend Node SDK (npm `autosendjs`) against a live `sendhouse serve`, mail caught by SMTP.

The SDK is installed with npm into a temporary folder at test time (never kept in the tree), a
real `sendhouse serve` process runs on a free port with its worker delivering to an in-process
aiosmtpd sink, and tests/e2e/node/sdk_flow.mjs calls emails.send, emails.bulk and the contacts
methods. Then the messages must arrive at the sink, rendered per recipient.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from tests.support.smtp_sink import SmtpSink, free_port

SENDHOUSE = str(Path(sys.executable).parent / "sendhouse")
NODE_DIR = Path(__file__).parent / "node"
DELIVERY_DEADLINE = 90  # seconds to wait for the worker; a bound on the wait, not a speed assertion


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory) -> Path:
    """A temporary folder with the SDK installed from the registry and the flow script beside it."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    folder = tmp_path_factory.mktemp("node-sdk")
    for name in ("package.json", "sdk_flow.mjs"):
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


def _env(db_url: str, data_dir: Path, smtp_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": db_url,
            "SENDHOUSE_DATA_DIR": str(data_dir),
            "SENDHOUSE_SMTP_URL": smtp_url,
            "SENDHOUSE_RATE_LIMIT": "1000",
            # a real relay, but the SDK sends from example.com, a domain no test verifies
            "SENDHOUSE_REQUIRE_VERIFIED_DOMAIN": "false",
        }
    )
    return env


def _wait_until_up(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx2.get(f"{base}/v1/mails/x/status", timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"sendhouse serve did not come up (exit code {proc.poll()})")


@pytest.fixture
def live(db_url, tmp_path):
    """(base URL, project key, sink) of a running `sendhouse serve` delivering to an SMTP sink."""
    port = free_port()
    with SmtpSink() as sink, open(tmp_path / "serve.log", "w") as log:
        env = _env(db_url, tmp_path / "data", sink.url)
        proc = subprocess.Popen(
            [SENDHOUSE, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, proc)
            key = subprocess.run(
                [SENDHOUSE, "keys", "create", "--project", "default"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert key.returncode == 0, key.stderr
            yield base, key.stdout.strip().splitlines()[-1], sink
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def _run_flow(sdk_dir: Path, base: str, key: str) -> dict:
    env = {**os.environ, "AUTOSEND_BASE_URL": f"{base}/v1", "AUTOSEND_API_KEY": key}
    done = subprocess.run(
        ["node", "sdk_flow.mjs"],
        cwd=sdk_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wait_for(sink: SmtpSink, count: int) -> list:
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while time.monotonic() < deadline and len(sink.messages) < count:
        time.sleep(0.25)
    return sink.messages


def _by_recipient(received) -> dict[str, email.message.EmailMessage]:
    return {m.rcpt_to[0]: email.message_from_bytes(m.data, policy=email.policy.default) for m in received}


def test_node_sdk_sends_and_manages_contacts(sdk_dir, live):
    base, key, sink = live
    out = _run_flow(sdk_dir, base, key)

    assert out["send"]["success"] is True, out["send"]
    email_id = out["send"]["data"]["emailId"]
    assert len(email_id) == 24
    bulk = out["bulk"]
    assert bulk["success"] is True, bulk
    assert (bulk["data"]["totalRecipients"], bulk["data"]["successCount"], bulk["data"]["failedCount"]) == (
        2,
        2,
        0,
    )
    assert out["badSend"]["success"] is False and out["badSend"]["statusCode"] == 400

    assert out["created"]["success"] is True, out["created"]
    assert out["created"]["data"]["email"] == "carol@example.org"
    assert out["got"]["data"]["id"] == out["created"]["data"]["id"]
    assert out["upserted"]["success"] is True and out["upserted"]["data"]["email"] == "carol@example.org"
    assert out["deleted"]["success"] is True
    assert out["afterDelete"]["success"] is False

    received = _by_recipient(_wait_for(sink, 4))
    assert sorted(received) == ["ann@example.org", "b1@example.org", "b2@example.org", "cc@example.org"], (
        "the worker inside `sendhouse serve` did not deliver the queued transactional mail"
    )
    assert received["ann@example.org"]["Subject"] == "Hello Ann"
    assert "your code is 4711" in received["ann@example.org"].get_body(("html",)).get_content()
    assert received["ann@example.org"]["Cc"] == "Cee <cc@example.org>"
    [attachment] = list(received["ann@example.org"].iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("receipt.txt", "paid in full\n")
    assert received["cc@example.org"]["Subject"] == "Hello Ann"
    assert received["b1@example.org"]["Subject"] == "Batch for B1"
    assert "B2 is on free" in received["b2@example.org"].get_body(("html",)).get_content()
    assert len({m["Message-ID"] for m in received.values()}) == 4

    status = _final_status(base, key, email_id)
    assert status["status"] == "sent" and status["sentAt"] is not None


def _final_status(base: str, key: str, email_id: str) -> dict:
    """The email's status once the worker has recorded the outcome (SMTP accepts before the commit)."""
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while True:
        data = httpx2.get(
            f"{base}/v1/mails/{email_id}/status", headers={"Authorization": f"Bearer {key}"}
        ).json()
        if data["data"]["status"] not in ("queued", "sending") or time.monotonic() > deadline:
            return data["data"]
        time.sleep(0.25)
