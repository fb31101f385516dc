"""AUTH in the clear off loopback, over a real connection on both databases: the submission server
bound to a non-loopback address of this machine (the one its default route uses) does not offer
AUTH before STARTTLS, refuses it with 538 5.7.11 (RFC 4954: encryption required) and MAIL with 530;
after STARTTLS, AUTH PLAIN with an SMTP key succeeds and the message is queued. On a machine with
no such address the loopback exemption is switched off instead (auth_needs_tls), so the same
conversation is checked over 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import smtplib
import socket
import ssl

import pytest

from sendhouse.services import smtp_keys
from sendhouse.smtpd import submission as server_module
from sendhouse.smtpd.submission import submission_part
from tests.support.inbound_data import message
from tests.support.smtp_sink import free_port
from tests.support.tls import self_signed

SENDER = "app@shop.example.com"


@pytest.fixture
def settings(settings, tmp_path):
    cert, key = self_signed(tmp_path / "tls")
    return settings.model_copy(update={"submission_tls_cert": str(cert), "submission_tls_key": str(key)})


def non_loopback_address() -> str | None:
    """The IPv4 address this machine's default route leaves from, unless it is loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # a UDP connect sends nothing; it only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def host(monkeypatch) -> str:
    found = non_loopback_address()
    if found is None:
        monkeypatch.setattr(server_module, "auth_needs_tls", lambda local, peer: True)
    return found or "127.0.0.1"


def _plain(key: str) -> str:
    return "PLAIN " + base64.b64encode(b"\0autosend\0" + key.encode()).decode()


def _conversation(host: str, port: int, key: str) -> dict:
    """What the server answers before and after STARTTLS on one connection."""
    seen: dict = {}
    with smtplib.SMTP(host, port, timeout=30) as client:
        client.ehlo("app.example.com")
        seen["clear_auth_offered"] = client.has_extn("auth")
        seen["clear_auth"] = client.docmd("AUTH", _plain(key))
        seen["clear_mail"] = client.docmd("MAIL", f"FROM:<{SENDER}>")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo("app.example.com")
        seen["tls_auth_offered"] = client.has_extn("auth")
        seen["tls_auth"] = client.docmd("AUTH", _plain(key))
        raw = message(sender=SENDER, to="ann@example.org", subject="After STARTTLS")
        client.mail(SENDER)
        client.rcpt("ann@example.org")
        seen["data"] = client.data(raw)
    return seen


async def test_auth_in_the_clear_is_refused_off_loopback_and_works_after_starttls(
    api, tenant, container, host
):
    key = (await smtp_keys.create_key(api.db, project_id=tenant.project_id))[1]
    port = free_port()
    async with submission_part(container, f"{host}:{port}"):
        seen = await asyncio.to_thread(_conversation, host, port, key)
    assert seen["clear_auth_offered"] is False
    code, text = seen["clear_auth"]
    assert code == 538 and text.startswith(b"5.7.11"), text
    assert seen["clear_mail"][0] == 530
    assert seen["tls_auth_offered"] is True
    assert seen["tls_auth"][0] == 235, seen["tls_auth"]
    code, text = seen["data"]
    assert code == 250 and text.startswith(b"2.0.0 OK queued as "), text
    email_id = text.decode().rsplit(" ", 1)[1]
    status = await api.client.get(f"/v1/mails/{email_id}/status", headers=tenant.headers)
    assert status.status_code == 200 and status.json()["data"]["recipient"]["email"] == "ann@example.org"
