"""SMTP submission for apps, on both databases, with Python's smtplib: STARTTLS with a
self-signed certificate and AUTH LOGIN/PLAIN with an SMTP key made by `sendhouse keys create --smtp`;
an accepted message is a transactional ledger row before the 250 (which names its email id), with
the app's Message-ID, bodies, attachments and Bcc kept; refusals: 530 without AUTH, 535 for bad,
revoked or API keys, 550 for a `from` on an unverified domain, 552 oversized, 451 when the
database fails, 451/454 past the per-key limits; the no-AUTH-in-the-clear policy off loopback."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from sendhouse.services import smtp_keys, transactional
from sendhouse.smtpd import submission as server_module
from sendhouse.smtpd.smtp_guard import ClientLimits
from sendhouse.smtpd.submission import auth_needs_tls, submission_part
from sendhouse.store.schema.campaigns import messages
from tests.support.inbound_data import message, swaks
from tests.support.smtp_sink import free_port
from tests.support.tls import self_signed

SENDHOUSE = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "sendhouse")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 30


@pytest.fixture
def settings(settings, tmp_path):
    cert, key = self_signed(tmp_path / "tls")
    return settings.model_copy(update={"submission_tls_cert": str(cert), "submission_tls_key": str(key)})


class Session:
    """One smtplib conversation, run in a thread (the server is on the test's event loop)."""

    def __init__(self, port: int):
        self.port = port
        self.client: smtplib.SMTP | None = None

    async def run(self, fn, *args):
        return await asyncio.to_thread(fn, *args)

    def _open(self, tls: bool) -> None:
        self.client = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        self.client.ehlo("app.example.com")
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            self.client.starttls(context=context)
            self.client.ehlo("app.example.com")

    def _send(self, mail_from: str, rcpts: list[str], raw: bytes) -> tuple[int, bytes]:
        code, text = self.client.mail(mail_from)
        if code != 250:
            return code, text
        for rcpt in rcpts:
            self.client.rcpt(rcpt)
        return self.client.data(raw)

    async def open(self, *, tls: bool = True) -> None:
        await self.run(self._open, tls)

    async def login(self, password: str, user: str = "autosend") -> None:
        await self.run(self.client.login, user, password)

    async def send(self, mail_from: str, rcpts: list[str], raw: bytes) -> tuple[int, bytes]:
        return await self.run(self._send, mail_from, rcpts, raw)

    async def close(self) -> None:
        await self.run(self.client.close)


@pytest.fixture
async def server(container):
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        yield port


async def smtp_key(api, tenant) -> str:
    return (await smtp_keys.create_key(api.db, project_id=tenant.project_id))[1]


async def ledger(api) -> list[dict]:
    async with api.db.read() as conn:
        rows = (
            await conn.execute(sa.select(messages).order_by(messages.c.created_at, messages.c.id))
        ).mappings()
        return [dict(r) for r in rows]


def queued_id(reply: tuple[int, bytes]) -> str:
    code, text = reply
    assert code == 250, text
    return text.decode().rsplit(" ", 1)[1]


async def test_starttls_auth_login_and_a_message_becomes_a_ledger_row_before_250(api, tenant, server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": api.container.settings.database_url,
            "SENDHOUSE_DATA_DIR": str(api.container.settings.data_dir),
        }
    )
    made = await asyncio.to_thread(
        subprocess.run,
        [SENDHOUSE, "keys", "create", "--project", tenant.project_id, "--smtp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    raw = message(
        sender="Shop <orders@shop.example.com>",
        to="Ann <ann@example.org>",
        subject="Your order",
        html="<p>Thanks</p>",
        attachments=(("invoice.pdf", "application/pdf", PDF),),
        headers={"Cc": "cc@example.org", "X-Order": "42"},
        message_id="<order-42@shop.example.com>",
    )
    session = Session(server)
    await session.open()
    await session.login(key)
    email_id = queued_id(
        await session.send(
            "orders@shop.example.com", ["ann@example.org", "cc@example.org", "hidden@example.org"], raw
        )
    )
    await session.close()
    rows = {r["email"]: r for r in await ledger(api)}
    assert set(rows) == {"ann@example.org", "cc@example.org", "hidden@example.org"}
    first = rows["ann@example.org"]
    assert first["id"] == email_id and first["kind"] == "transactional" and first["status"] == "queued"
    assert {r["message_id_header"] for r in rows.values()} == {"<order-42@shop.example.com>"}
    assert [
        rows[e]["payload"]["role"] for e in ("ann@example.org", "cc@example.org", "hidden@example.org")
    ] == ["to", "cc", "bcc"]
    content = first["payload"]["content"]
    assert content["from"] == {"email": "orders@shop.example.com", "name": "Shop"}
    assert content["subject"] == "Your order" and content["html"].strip() == "<p>Thanks</p>"
    assert content["headers"] == {"X-Order": "42"}
    spec = transactional.transactional_spec(first["payload"], tenant.project_id)
    assert spec.attachments == (("invoice.pdf", "application/pdf", PDF),)
    listed = await smtp_keys.list_keys(api.db, tenant.project_id)
    assert listed[0]["lastUsedAt"] is not None


async def test_auth_plain_in_the_clear_is_allowed_on_loopback(api, tenant, server):
    key = await smtp_key(api, tenant)
    session = Session(server)
    await session.open(tls=False)
    session.client.user, session.client.password = "anyone@example.com", key
    code, _text = await session.run(session.client.auth, "PLAIN", session.client.auth_plain)
    assert code == 235
    queued_id(
        await session.send(
            "a@shop.example.com", ["b@example.org"], message(sender="a@shop.example.com", to="b@example.org")
        )
    )
    await session.close()


def test_auth_needs_tls_except_on_loopback():
    assert auth_needs_tls("127.0.0.1", "127.0.0.1") is False
    assert auth_needs_tls("::1", "::1") is False
    assert auth_needs_tls("192.0.2.10", "198.51.100.7") is True
    assert auth_needs_tls("192.0.2.10", "127.0.0.1") is True
    assert auth_needs_tls("127.0.0.1", "203.0.113.5") is True
    assert auth_needs_tls(None, "127.0.0.1") is True
    assert auth_needs_tls("not-an-ip", "127.0.0.1") is True


async def test_wrong_revoked_and_api_keys_are_refused_with_535(api, tenant, server):
    revoked_row, revoked = await smtp_keys.create_key(api.db, project_id=tenant.project_id)
    await smtp_keys.revoke_key(api.db, project_id=tenant.project_id, key_id=revoked_row["id"])
    for password in ("AS_wrong", tenant.key, revoked):
        session = Session(server)
        await session.open()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            await session.login(password)
        assert refused.value.smtp_code == 535
        await session.close()
    session = Session(server)
    await session.open()
    code, _text = await session.send("a@shop.example.com", ["b@example.org"], b"Subject: x\r\n\r\nx\r\n")
    assert code == 530
    await session.close()
    assert await ledger(api) == []


async def test_a_from_on_an_unverified_domain_is_refused_with_550(api, tenant, container):
    strict = container.settings.model_copy(update={"require_verified_domain": True})
    container.settings = strict
    key = await smtp_key(api, tenant)
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        session = Session(port)
        await session.open()
        await session.login(key)
        code, text = await session.send(
            "a@unverified.example.com",
            ["b@example.org"],
            message(sender="a@unverified.example.com", to="b@example.org"),
        )
        await session.close()
    assert code == 550 and b"not a verified domain" in text
    assert await ledger(api) == []


async def test_an_oversized_message_is_refused_with_552(api, tenant, container, monkeypatch):
    monkeypatch.setattr(server_module, "MAX_MESSAGE_BYTES", 200_000)
    key = await smtp_key(api, tenant)
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        session = Session(port)
        await session.open()
        await session.login(key)
        big = message(
            sender="a@shop.example.com",
            to="b@example.org",
            attachments=(("big.bin", "application/octet-stream", b"\x02" * 300_000),),
        )
        code, _text = await session.send("a@shop.example.com", ["b@example.org"], big)
        await session.close()
    assert code == 552
    assert await ledger(api) == []


async def test_dot_stuffed_lines_arrive_unstuffed_and_a_refused_message_leaves_the_session_usable(
    api, tenant, container, monkeypatch
):
    monkeypatch.setattr(server_module, "MAX_MESSAGE_BYTES", 200_000)
    key = await smtp_key(api, tenant)
    text = ".a line starting with a dot\n..two dots\n.\nlast line.\n"
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        session = Session(port)
        await session.open()
        await session.login(key)
        big = message(sender="a@shop.example.com", to="b@example.org", text=".\n" + ("x" * 70 + "\n") * 4000)
        refused, _text = await session.send("a@shop.example.com", ["b@example.org"], big)
        dotted = message(sender="a@shop.example.com", to="b@example.org", text=text)
        email_id = queued_id(await session.send("a@shop.example.com", ["b@example.org"], dotted))
        await session.close()
    assert refused == 552
    (row,) = await ledger(api)
    assert row["id"] == email_id and row["payload"]["content"]["text"] == text.replace("\n", "\r\n")


async def test_a_database_failure_answers_451_and_keeps_nothing(api, tenant, server, monkeypatch):
    key = await smtp_key(api, tenant)

    async def failing(*_args, **_kwargs):
        raise OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(transactional, "insert_prepared", failing)
    session = Session(server)
    await session.open()
    await session.login(key)
    code, _text = await session.send(
        "a@shop.example.com", ["b@example.org"], message(sender="a@shop.example.com", to="b@example.org")
    )
    await session.close()
    assert code == 451
    assert await ledger(api) == []


async def test_limits_per_key_messages_per_minute_and_connections(api, tenant, container):
    key = await smtp_key(api, tenant)
    port = free_port()
    limits = ClientLimits(max_connections=1, messages_per_minute=2)
    async with submission_part(container, f"127.0.0.1:{port}", key_limits=limits):
        first = Session(port)
        await first.open()
        await first.login(key)
        raw = message(sender="a@shop.example.com", to="b@example.org")
        codes = [(await first.send("a@shop.example.com", ["b@example.org"], raw))[0] for _ in range(3)]
        assert codes == [250, 250, 451]
        second = Session(port)
        await second.open()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            await second.login(key)
        assert refused.value.smtp_code == 454
        await first.close()
        await second.close()
    assert len(await ledger(api)) == 2


async def test_swaks_sends_through_starttls_and_auth(api, tenant, server):
    key = await smtp_key(api, tenant)
    done = await asyncio.to_thread(
        swaks,
        "--server",
        "127.0.0.1",
        "--port",
        str(server),
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "autosend",
        "--auth-password",
        key,
        "--from",
        "app@shop.example.com",
        "--to",
        "user@example.org",
        "--header",
        "Subject: From swaks",
        "--body",
        "Sent by swaks.",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = await ledger(api)
    assert f"250 2.0.0 OK queued as {row['id']}" in done.stdout
    assert row["payload"]["content"]["subject"] == "From swaks" and row["email"] == "user@example.org"
    refused = await asyncio.to_thread(
        swaks,
        "--server",
        "127.0.0.1",
        "--port",
        str(server),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        "x",
        "--auth-password",
        "AS_wrong",
        "--from",
        "app@shop.example.com",
        "--to",
        "user@example.org",
    )
    assert refused.returncode != 0 and "535 5.7.8" in refused.stdout


def _smtps_send(port: int, key: str) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=30) as client:
        client.login("autosend", key)
        client.mail("a@shop.example.com")
        client.rcpt("b@example.org")
        return client.data(message(sender="a@shop.example.com", to="b@example.org", subject="Over SMTPS"))


async def test_implicit_tls_port_accepts_auth_and_mail(api, tenant, container):
    key = await smtp_key(api, tenant)
    port, smtps_port = free_port(), free_port()
    async with submission_part(container, f"127.0.0.1:{port}", implicit_tls=f"127.0.0.1:{smtps_port}"):
        email_id = queued_id(await asyncio.to_thread(_smtps_send, smtps_port, key))
    [row] = await ledger(api)
    assert row["id"] == email_id and row["payload"]["content"]["subject"] == "Over SMTPS"
