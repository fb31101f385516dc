"""A scripted relay (aiosmtpd on 127.0.0.1) for the SMTP stage tests.

- Replies can be queued for the next MAIL FROM, RCPT TO and DATA commands (`script_mail`,
  `script_rcpt`, `script_data`); without a script every command gets its usual 250/354. A MAIL
  FROM scripted "stall" is answered (250) only after 3 seconds.
- `cut_next_data()`: the next DATA reads a few lines of the message, then the relay hangs up.
- SMTPUTF8 and PIPELINING are offered or hidden (aiosmtpd never offers PIPELINING by itself, but
  reads commands in order, so announcing it is all a pipelining relay needs); `pipelined` tells,
  per MAIL FROM, whether RCPT TO and DATA were already waiting behind it.
- `tls=(cert, key)` offers and requires STARTTLS (`self_signed_certificate` makes a pair).
- `auth=True` announces AUTH PLAIN/LOGIN (without TLS, on loopback) and accepts only
  `good_password`.
- Everything is recorded: every reply line written (`lines`, to spot a `503 Error: nested MAIL
  command`), each MAIL FROM with its parameters, each RCPT TO, and each message kept (its bytes as
  received, after un-dot-stuffing).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.smtp_sink import free_port


@dataclass
class Kept:
    mail_from: str
    mail_options: list[str]
    rcpt_to: list[str]
    data: bytes


@dataclass
class ScriptedHandler:
    pipelining: bool = False
    good_password: str = "secret"
    mail_replies: deque = field(default_factory=deque)
    rcpt_replies: deque = field(default_factory=deque)
    data_replies: deque = field(default_factory=deque)
    cuts: int = 0
    lines: list[str] = field(default_factory=list)
    mails: list[tuple[str, list[str]]] = field(default_factory=list)
    pipelined: list[bool] = field(default_factory=list)  # per MAIL FROM: came with RCPT TO and DATA
    rcpts: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + (["250-PIPELINING"] if self.pipelining else []) + responses[-1:]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # Commands already waiting in the reader's buffer (asyncio.StreamReader's, read for the test
        # only) when MAIL FROM is handled: a pipelining client has sent RCPT TO and DATA with it.
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        with self.lock:
            self.mails.append((address, list(mail_options)))
            self.pipelined.append(b"RCPT TO" in waiting and b"DATA" in waiting)
            scripted = self.mail_replies.popleft() if self.mail_replies else None
        if scripted == "stall":  # answer only after the client has given up (its timeout is shorter)
            await asyncio.sleep(3)
        elif scripted:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpts.append(address)
            scripted = self.rcpt_replies.popleft() if self.rcpt_replies else None
        if scripted:
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            scripted = self.data_replies.popleft() if self.data_replies else None
            if not scripted:
                self.kept.append(
                    Kept(
                        envelope.mail_from,
                        list(envelope.mail_options),
                        list(envelope.rcpt_tos),
                        envelope.original_content or envelope.content,
                    )
                )
        return scripted or "250 2.0.0 accepted"

    def authenticate(self, server, session, envelope, mechanism, data) -> AuthResult:
        good = getattr(data, "password", b"") == self.good_password.encode()
        return AuthResult(success=good, handled=False)


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP that logs every reply line and command, and can cut a DATA short."""

    async def push(self, status) -> None:
        with self.event_handler.lock:
            self.event_handler.lines.append(status if isinstance(status, str) else status.decode())
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        if not handler.cuts or not self.envelope.rcpt_tos:
            return await super().smtp_DATA(arg)
        handler.cuts -= 1
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        for _ in range(3):
            await self._reader.readuntil(b"\r\n")
        self.transport.close()
        await asyncio.sleep(30)  # cancelled when the connection is lost


class ScriptedSmtp:
    """`with ScriptedSmtp(smtputf8=…, pipelining=…, auth=…) as relay:`; `relay.url` to deliver to."""

    def __init__(
        self,
        *,
        smtputf8: bool = False,
        pipelining: bool = False,
        auth: bool = False,
        tls: tuple[str, str] | None = None,
    ):
        self.handler = ScriptedHandler(pipelining=pipelining)
        self.port = free_port()
        options = {
            "hostname": "relay.test",
            "enable_SMTPUTF8": smtputf8,
            "data_size_limit": 0,
            "decode_data": False,
        }
        if tls:  # (cert file, key file): STARTTLS offered and required
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            options.update(tls_context=context, require_starttls=True)
        if auth:
            options.update(authenticator=self.handler.authenticate, auth_require_tls=False)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.factory = lambda: RecordingSMTP(self.handler, **options)

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def url(self, userinfo: str = "", timeout: float = 5) -> str:
        return f"smtp://{userinfo}127.0.0.1:{self.port}?timeout={timeout}"

    def script_mail(self, *replies: str) -> None:
        with self.handler.lock:
            self.handler.mail_replies.extend(replies)

    def script_rcpt(self, *replies: str) -> None:
        """Replies for the next RCPT TO commands, in order ("" for a normal 250)."""
        with self.handler.lock:
            self.handler.rcpt_replies.extend(replies)

    def script_data(self, *replies: str) -> None:
        with self.handler.lock:
            self.handler.data_replies.extend(replies)

    def cut_next_data(self) -> None:
        with self.handler.lock:
            self.handler.cuts += 1

    @property
    def kept(self) -> list[Kept]:
        with self.handler.lock:
            return list(self.handler.kept)

    @property
    def lines(self) -> list[str]:
        with self.handler.lock:
            return list(self.handler.lines)

    def nested_mail_errors(self) -> int:
        return sum("nested MAIL" in line for line in self.lines)


def self_signed_certificate(folder) -> tuple[str, str]:
    """(cert file, key file) of a fresh self-signed certificate for 127.0.0.1 in `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = f"{folder}/relay.pem", f"{folder}/relay.key"
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_file, key_file
