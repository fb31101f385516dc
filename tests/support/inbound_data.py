"""Helpers for inbound mail tests: a sending domain verified through the local DNS server with
receiving enabled, a sender domain publishing SPF, DKIM and DMARC, messages built with the stdlib
(optionally DKIM-signed with dkimpy), and delivery with Python's smtplib (in a thread, since the
receiver runs on the test's event loop)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import smtplib
import subprocess
from email.message import EmailMessage
from email.utils import make_msgid

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sendhouse.services import webhooks as webhook_service
from tests.support.dns_server import DnsServer, publish

BOUNCE_DOMAIN = "bounces.sendhouse.test"
SELECTOR = b"s1"


async def receiving_domain(
    api, tenant, dns_server: DnsServer, name: str = "example.com", *, mx: bool = True
) -> dict:
    """A domain of the tenant verified for sending (records served by dns_server) with inbound on."""
    added = await api.client.post("/v1/domains", json={"domain": name}, headers=tenant.headers)
    assert added.status_code == 200, added.text
    domain = added.json()["data"]
    publish(dns_server, domain["dnsRecords"])
    verified = await api.client.post(f"/v1/domains/{domain['id']}/verify", headers=tenant.headers)
    assert verified.json()["data"]["verificationStatus"] == "VERIFIED", verified.text
    if mx:
        dns_server.add(name, "MX", f"10 {BOUNCE_DOMAIN}.")
    enabled = await api.client.post(f"/v1/domains/{domain['id']}/inbound/enable", headers=tenant.headers)
    assert enabled.status_code == 200, enabled.text
    return enabled.json()["data"]


class SenderDomain:
    """A domain that sends to us: its DKIM key, and SPF/DMARC records served by the DNS server."""

    def __init__(
        self,
        dns_server: DnsServer,
        name: str = "sender.org",
        *,
        spf_ip: str = "127.0.0.1",
        dmarc: str = "v=DMARC1; p=reject",
    ):
        self.name = name
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        dns_server.add(
            f"{SELECTOR.decode()}._domainkey.{name}",
            "TXT",
            "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode(),
        )
        dns_server.add(name, "TXT", f"v=spf1 ip4:{spf_ip} -all")
        dns_server.add(f"_dmarc.{name}", "TXT", dmarc)

    def sign(self, raw: bytes) -> bytes:
        signature = dkim.sign(
            raw,
            SELECTOR,
            self.name.encode(),
            self.private_pem,
            include_headers=[b"from", b"to", b"subject", b"message-id"],
        )
        return signature + raw


def message(
    *,
    sender: str,
    to: str,
    subject: str = "Hello",
    text: str = "Hi there.\n",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict | None = None,
    message_id: str | None = None,
) -> bytes:
    """A message as a mail client writes it (CRLF line endings)."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text)
    if html:
        mail.add_alternative(html, subtype="html")
    for filename, content_type, content in attachments:
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))


def _smtp_send(port: int, mail_from: str, rcpts: list[str], raw: bytes, helo: str) -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo(helo)
        return client.sendmail(mail_from, rcpts, raw)


async def smtp_send(
    port: int, mail_from: str, rcpts: list[str], raw: bytes, *, helo: str = "client.sender.org"
) -> dict:
    """smtplib.sendmail in a thread; its refused-recipients dict (raises like smtplib)."""
    return await asyncio.to_thread(_smtp_send, port, mail_from, rcpts, raw, helo)


def swaks(*args: str) -> subprocess.CompletedProcess:
    """Run swaks (Debian package, installed by .ci/setup-tools) with a bounded time."""
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed (.ci/setup-tools installs it)")
    return subprocess.run(
        ["swaks", "--timeout", "30", *args], capture_output=True, text=True, timeout=60, check=False
    )


async def subscribe_to_received(db, project_id: str) -> None:
    """A webhook subscribed to email.received (its deliveries are read from the outbox)."""
    await webhook_service.create_webhook(
        db, project_id, url="http://127.0.0.1:9/hook", events=["email.received"]
    )
