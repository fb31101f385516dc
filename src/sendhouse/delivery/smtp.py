"""The SMTP relay transport: a pool of reused aiosmtplib connections.

`SmtpTransport(url, connections=N)` keeps at most N connections to the relay named by
`smtp://[user:pass@]host:port[?starttls=true]` or `smtps://…`. A connection is opened lazily,
reused for message after message, and dropped (and reopened on next use) after any error that
leaves its state unknown. Every reply is classified by delivery.base.classify.
"""

from __future__ import annotations

import asyncio
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
            client = await asyncio.wait_for(self._idle.get(), self.config.timeout)
        except asyncio.TimeoutError:
            return connection_trouble(TimeoutError("no SMTP connection became free"))
        try:
            client = await self._ready(client)
            if gate is not None and not await gate.enter():
                return SendResult(SKIPPED)
            result, keep = await self._transaction(client, msg, gate)
            if not keep:
                client = await self._discard(client)
            return result
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as error:
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
        try:
            try:
                await client.mail(msg.mail_from)
            finally:
                if gate is not None:
                    gate.leave()
            refused = await _rcpts(client, _recipients(msg))
            if len(refused) == len(_recipients(msg)):
                await _rset(client)
                return classify(refused[0].code, refused[0].message), client.is_connected
            reply = await client.data(msg.data)
        except aiosmtplib.SMTPResponseException as error:
            await _rset(client)
            return classify(error.code, error.message), client.is_connected
        if refused:
            return classify(refused[0].code, refused[0].message), True
        return classify(reply.code, reply.message), True

    async def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is None:
            return None
        self._all.discard(client)
        client.close()
        return None

    async def close(self) -> None:
        """Say QUIT on every open connection (best effort) and forget them."""
        for client in list(self._all):
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                client.close()
        self._all.clear()


def _reply_or_trouble(error: BaseException) -> SendResult:
    code = getattr(error, "code", None)
    if isinstance(error, aiosmtplib.SMTPResponseException) and code and code >= 200:
        return classify(code, error.message)
    return connection_trouble(error)


async def _rcpts(client: aiosmtplib.SMTP, recipients: tuple[str, ...]) -> list:
    """RCPT TO each address; the refusals (SMTPRecipientRefused) in order."""
    refused = []
    for address in recipients:
        try:
            await client.rcpt(address)
        except aiosmtplib.SMTPRecipientRefused as error:
            refused.append(error)
    return refused


async def _rset(client: aiosmtplib.SMTP) -> None:
    """Reset the transaction after a refusal so the connection can be reused (best effort)."""
    if client.is_connected:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            client.close()


def _recipients(msg) -> tuple[str, ...]:
    return (msg.rcpt_to,) if isinstance(msg.rcpt_to, str) else tuple(msg.rcpt_to)
