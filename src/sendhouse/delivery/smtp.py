"""The SMTP relay transport: a pool of reused aiosmtplib connections.

`SmtpTransport(url, connections=N)` keeps at most N connections to the relay named by
`smtp://[user:pass@]host:port[?starttls=true]` or `smtps://…`. A connection is opened lazily,
reused for message after message, and dropped (and reopened on next use) after any error that
leaves its state unknown. Every reply is classified by delivery.base.classify.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from sendhouse.delivery.base import SKIPPED, Gate, SendResult, classify, connection_trouble
from sendhouse.errors import InvalidInput

TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class RelayConfig:
    """Where and how to connect, parsed from SENDHOUSE_SMTP_URL."""

    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> RelayConfig:
    """Parse smtp:// or smtps:// URLs; anything else is a clear configuration error."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise InvalidInput.field("SENDHOUSE_SMTP_URL", "must be `capture`, smtp://host:port or smtps://host:port")
    query = parse_qs(parts.query)
    start_tls = query.get("starttls", ["false"])[0].lower() in TRUE_WORDS
    timeout = float(query.get("timeout", ["30"])[0])
    return RelayConfig(
        host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps" else 25),
        use_tls=parts.scheme == "smtps", start_tls=start_tls and parts.scheme == "smtp",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None, timeout=timeout,
    )


class SmtpTransport:
    """Delivers over a bounded pool of persistent SMTP connections to one relay."""

    def __init__(self, url: str, *, connections: int = 10):
        self.config = parse_smtp_url(url)
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP | None] = asyncio.LifoQueue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # a free slot with no connection opened yet
        self._all: set[aiosmtplib.SMTP] = set()

    async def send(self, msg, *, gate: Gate | None = None) -> SendResult:
        """One SMTP transaction for msg on a pooled connection; gate is checked right before MAIL FROM."""
        try:
            client = self._idle.get_nowait() if not self._idle.empty() else \
                await asyncio.wait_for(self._idle.get(), self.config.timeout)
        except TimeoutError:
            return connection_trouble(TimeoutError("no SMTP connection became free"))
        try:
            client = await self._ready(client)
            if gate is not None and not await gate.enter():
                return SendResult(SKIPPED)
            result, keep = await self._transaction(client, msg, gate)
            if not keep:
                client = await self._discard(client)
            return result
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            client = await self._discard(client)
            return _reply_or_trouble(error)
        finally:
            self._idle.put_nowait(client)

    async def _ready(self, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            return client
        if client is not None:
            await self._discard(client)
        c = self.config
        client = aiosmtplib.SMTP(hostname=c.host, port=c.port, use_tls=c.use_tls, start_tls=c.start_tls,
                                 username=c.username, password=c.password, timeout=c.timeout)
        self._all.add(client)
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        return client

    async def _transaction(self, client: aiosmtplib.SMTP, msg, gate: Gate | None) -> tuple[SendResult, bool]:
        """MAIL FROM (written with no await after the gate said yes), RCPT TO each, DATA."""
        plain = _plain_envelope(msg)
        try:
            try:
                if plain:
                    await _command(client, b"MAIL FROM:<" + plain[0] + b">", aiosmtplib.SMTPSenderRefused, msg.mail_from)
                else:
                    await client.mail(msg.mail_from)
            finally:
                if gate is not None:
                    gate.leave()
            refused = await _rcpts(client, _recipients(msg), plain[1:] if plain else None)
            if len(refused) == len(_recipients(msg)):
                await _rset(client)
                return classify(refused[0].code, refused[0].message), client.is_connected
            reply = await _data(client, msg.data) if plain else await client.data(msg.data)
        except aiosmtplib.SMTPResponseException as error:
            await _rset(client)
            return classify(error.code, error.message), client.is_connected
        if refused:
            return classify(refused[0].code, refused[0].message), True
        return classify(reply.code, reply.message), True

    async def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is None:
            return
        self._all.discard(client)
        client.close()
        return

    async def close(self) -> None:
        """Say QUIT on every open connection (best effort) and forget them."""
        for client in list(self._all):
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=2)
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()
        self._all.clear()


def _reply_or_trouble(error: BaseException) -> SendResult:
    code = getattr(error, "code", None)
    if isinstance(error, aiosmtplib.SMTPResponseException) and code and code >= 200:
        return classify(code, error.message)
    return connection_trouble(error)


async def _rcpts(client: aiosmtplib.SMTP, recipients: tuple[str, ...], plain: tuple[bytes, ...] | None) -> list:
    """RCPT TO each address; the refusals (SMTPRecipientRefused) in order."""
    refused = []
    for n, address in enumerate(recipients):
        try:
            if plain:
                await _command(client, b"RCPT TO:<" + plain[n] + b">", aiosmtplib.SMTPRecipientRefused, address)
            else:
                await client.rcpt(address)
        except aiosmtplib.SMTPRecipientRefused as error:
            refused.append(error)
    return refused


# --- the fast path: envelopes and messages Sendhouse built itself -----------------------------
# Plain ASCII addresses go out as `MAIL FROM:<addr>` without aiosmtplib's address parsing, and a
# message whose line endings are already CRLF only needs dot-stuffing (two bytes.replace calls)
# instead of two regular-expression passes. Anything else takes aiosmtplib's general path.

_UNSAFE = re.compile(rb"[^\x21-\x7e]|[<>]")


def _plain_envelope(msg) -> tuple[bytes, ...] | None:
    """(mail_from, *rcpt_to) as bytes when every address is plain printable ASCII, else None."""
    try:
        addresses = tuple(a.encode("ascii") for a in (msg.mail_from, *_recipients(msg)))
    except UnicodeEncodeError:
        return None
    return None if any(not a or _UNSAFE.search(a) for a in addresses) else addresses


async def _command(client: aiosmtplib.SMTP, line: bytes, refused, address: str):
    reply = await client.execute_command(line)
    if reply.code not in (250, 251):
        raise refused(reply.code, reply.message, address)
    return reply


async def _data(client: aiosmtplib.SMTP, data: bytes):
    """DATA, then the dot-stuffed message and the final dot (the message must already use CRLF)."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):
        return await client.data(data)
    start = await client.execute_command(b"DATA")
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    body = (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")
    body += b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"
    try:
        client.protocol.write(body)
        reply = await client.protocol.read_response(timeout=client.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if reply.code != 250:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


async def _rset(client: aiosmtplib.SMTP) -> None:
    """Reset the transaction after a refusal so the connection can be reused (best effort)."""
    if client.is_connected:
        try:
            await client.rset()
        except (TimeoutError, aiosmtplib.SMTPException, OSError):
            client.close()


def _recipients(msg) -> tuple[str, ...]:
    return (msg.rcpt_to,) if isinstance(msg.rcpt_to, str) else tuple(msg.rcpt_to)
