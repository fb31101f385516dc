"""An app sends through a live `sendhouse serve` over SMTP submission, end to end: STARTTLS and AUTH
with a key from `sendhouse keys create --smtp`, the 250 names the email id, the worker inside `serve`
delivers the message to an SMTP sink with the app's Message-ID, and GET /v1/mails/{id}/status follows it."""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
import subprocess
import time

import httpx2

from tests.e2e.test_node_sdk import SENDHOUSE, _env, _wait_until_up
from tests.support.inbound_data import message
from tests.support.smtp_sink import SmtpSink, free_port
from tests.support.tls import self_signed

DEADLINE = 90  # seconds to wait for the worker: a bound on the wait, not a speed assertion


def _cli(env: dict, *args: str) -> str:
    done = subprocess.run(
        [SENDHOUSE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _submit(port: int, key: str, raw: bytes) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls(context=context)
        client.login("autosend", key)
        client.mail("app@shop.example.com")
        client.rcpt("customer@example.org")
        return client.data(raw)


def test_an_app_sends_over_smtp_through_serve(db_url, tmp_path):
    cert, key_file = self_signed(tmp_path / "tls")
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    with SmtpSink() as sink, open(tmp_path / "serve.log", "w") as log:
        env = _env(db_url, tmp_path / "data", sink.url)
        env.update(
            {
                "SENDHOUSE_SUBMISSION_SMTP": f"127.0.0.1:{smtp_port}",
                "SENDHOUSE_SUBMISSION_TLS_CERT": str(cert),
                "SENDHOUSE_SUBMISSION_TLS_KEY": str(key_file),
            }
        )
        proc = subprocess.Popen(
            [SENDHOUSE, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(base, proc)
            _cli(env, "projects", "create", "app")
            smtp_key, api_key = (
                _cli(env, "keys", "create", "--project", "app", "--smtp"),
                _cli(env, "keys", "create", "--project", "app"),
            )
            raw = message(
                sender="Shop <app@shop.example.com>",
                to="customer@example.org",
                subject="Welcome",
                html="<p>Hello from the app</p>",
                message_id="<welcome-1@shop.example.com>",
            )
            code, text = _submit(smtp_port, smtp_key, raw)
            assert code == 250, text
            email_id = text.decode().rsplit(" ", 1)[1]
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline and not sink.messages:
                time.sleep(0.25)
            [received] = sink.messages
            delivered = email.message_from_bytes(received.data, policy=email.policy.default)
            assert received.rcpt_to == ["customer@example.org"] and delivered["Subject"] == "Welcome"
            assert delivered["Message-ID"] == "<welcome-1@shop.example.com>"
            assert "Hello from the app" in delivered.get_body(("html",)).get_content()
            status = httpx2.get(
                f"{base}/v1/mails/{email_id}/status", headers={"Authorization": f"Bearer {api_key}"}
            )
            assert (
                status.status_code == 200
                and status.json()["data"]["recipient"]["email"] == "customer@example.org"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
