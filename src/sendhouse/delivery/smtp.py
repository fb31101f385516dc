"""The SMTP relay transport: a pool of reused aiosmtplib connections.

`SmtpTransport(url, connections=N)` keeps at most N connections to the relay named by
`smtp://[user:pass@]host:port[?starttls=true][&pipelining=false]` or `smtps://…`. A connection is
opened lazily (aiosmtplib: connect, EHLO, STARTTLS, AUTH) and reused for message after message.
Each message is one transaction on a delivery.wire.Wire: MAIL FROM (written with no await after
the gate said yes), RCPT TO for each recipient, DATA, the dot-stuffed message. When the relay
offers PIPELINING (RFC 2920), MAIL FROM, the RCPT TOs and DATA go out in one write and their
replies are read in order; the gate is left once MAIL FROM's reply is read. Replies are classified by stage
(delivery.base.classify). A connection goes back into the pool only in a known, clean state: after
a message accepted or refused at its end, or after a recipient refusal followed by a good RSET.
After a relay or connection failure, a timeout, a cancellation or any local exception the
connection is closed, never reused in the middle of a transaction.
Envelope addresses are encoded by delivery.envelope (SMTPUTF8 when offered, else IDNA domains).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from sendhouse.delivery.base import (
    CONNECT,
    DATA,
    LOCAL,
    MAIL,
    PERMANENT,
    RCPT,
    SKIPPED,
    Gate,
    SendResult,
    classify,
    connection_trouble,
    relay_failure,
)
from sendhouse.delivery.envelope import Envelope, UnsendableAddress, encode_envelope
from sendhouse.delivery.wire import Wire
from sendhouse.errors import InvalidInput

log = logging.getLogger("sendhouse.delivery")
TRUE_WORDS = ("1", "true", "yes", "on")
WIRE_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


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
    pipelining: bool = True  # used when the relay offers PIPELINING; `?pipelining=false` turns it off


def parse_smtp_url(url: str) -> RelayConfig:
    """Parse smtp:// or smtps:// URLs; anything else is a clear configuration error."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise InvalidInput.field(
            "SENDHOUSE_SMTP_URL", "must be `capture`, smtp://host:port or smtps://host:port"
        )
    query = parse_qs(parts.query)
    start_tls = query.get("starttls", ["false"])[0].lower() in TRUE_WORDS
    timeout = float(query.get("timeout", ["30"])[0])
    return RelayConfig(
        host=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        use_tls=parts.scheme == "smtps",
        start_tls=start_tls and parts.scheme == "smtp",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
        pipelining=query.get("pipelining", ["true"])[0].lower() in TRUE_WORDS,
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
            slot = (
                self._idle.get_nowait()
                if not self._idle.empty()
                else await asyncio.wait_for(self._idle.get(), self.config.timeout)
            )
        except TimeoutError:
            return relay_failure(None, "no SMTP connection became free", stage=CONNECT)
        back: aiosmtplib.SMTP | None = None  # what returns to the pool: a clean connection, or None
        try:
            result, back = await self._deliver(slot, msg, gate)
            return result
        finally:
            self._idle.put_nowait(back)

    async def _deliver(self, client, msg, gate: Gate | None) -> tuple[SendResult, aiosmtplib.SMTP | None]:
        """(result, the connection if it is clean); any connection not handed back is closed here."""
        try:
            client = await self._ready(client)
        except WIRE_ERRORS as error:
            return connection_trouble(error, stage=CONNECT), None
        except Exception as error:
            log.exception("opening an SMTP connection failed")
            return connection_trouble(error, stage=CONNECT), None
        try:
            result, clean = await self._attempt(client, msg, gate)
        except BaseException:
            self._discard(client)  # the gate failed or we were cancelled: state unknown
            raise
        if clean:
            return result, client
        self._discard(client)
        return result, None

    async def _attempt(self, client: aiosmtplib.SMTP, msg, gate: Gate | None) -> tuple[SendResult, bool]:
        try:
            envelope = encode_envelope(
                msg.mail_from, _recipients(msg), smtputf8=client.supports_extension("smtputf8")
            )
        except UnsendableAddress as error:
            return SendResult(PERMANENT, None, str(error)[:500], stage=LOCAL), True  # nothing was written
        if gate is not None and not await gate.enter():
            return SendResult(SKIPPED), True
        pipelined = self.config.pipelining and client.supports_extension("pipelining")
        return await Transaction(client, envelope, msg, gate, pipelined=pipelined).run()

    async def _ready(self, client: aiosmtplib.SMTP | None) -> aiosmtplib.SMTP:
        if client is not None and client.is_connected:
            return client
        self._discard(client)
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.use_tls,
            start_tls=c.start_tls,
            username=c.username,
            password=c.password,
            timeout=c.timeout,
        )
        self._all.add(client)
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
        except BaseException:
            self._discard(client)
            raise
        return client

    def _discard(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None:
            self._all.discard(client)
            client.close()

    async def close(self) -> None:
        """Say QUIT on every open connection (best effort) and forget them."""
        for client in list(self._all):
            try:
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), timeout=2)
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                client.close()
        self._all.clear()


class Transaction:
    """One message on one connection. run() → (result, whether the connection is clean to reuse)."""

    def __init__(
        self, client: aiosmtplib.SMTP, envelope: Envelope, msg, gate: Gate | None, *, pipelined: bool
    ):
        self.client, self.envelope, self.msg, self.gate = client, envelope, msg, gate
        self.pipelined = pipelined
        self.stage = MAIL
        self.dirty = False  # the relay may be waiting for something we will not send

    async def run(self) -> tuple[SendResult, bool]:
        try:
            with Wire(self.client) as wire:  # no await before MAIL FROM is written (gate contract)
                result = await self._exchange(wire)
                return result, wire.clean and not self.dirty and not result.connection_error
        except WIRE_ERRORS as error:  # drops, timeouts, bad replies
            return connection_trouble(error, stage=self.stage), False
        except Exception as error:  # any local exception: the relay may be mid-transaction
            log.exception("SMTP transaction failed locally")
            return connection_trouble(error, stage=LOCAL), False
        finally:
            self._leave()

    def _leave(self) -> None:
        gate, self.gate = self.gate, None
        if gate is not None:
            gate.leave()

    async def _exchange(self, wire: Wire) -> SendResult:
        """Unpipelined: each command waits for the previous reply. Pipelined (RFC 2920): MAIL FROM,
        every RCPT TO and DATA in one write, the replies read and matched in order. A failure
        before every reply is read leaves the connection unclean, so it is closed."""
        lines = [self.envelope.mail_line(), *self.envelope.rcpt_lines(), b"DATA\r\n"]
        if self.pipelined:
            wire.write(b"".join(lines), len(lines))
        else:
            wire.write(lines[0], 1)
        try:
            reply = await wire.reply()
        finally:
            self._leave()
        if reply.code != 250:
            return relay_failure(reply.code, reply.message, stage=MAIL)
        self.stage = RCPT
        refused = []
        for line in lines[1:-1]:
            reply = await self._command(wire, line)
            if reply.code not in (250, 251):
                result = classify(reply.code, reply.message, stage=RCPT)
                if result.connection_error:
                    return result
                refused.append(result)
        return await self._data(wire, refused)

    async def _data(self, wire: Wire, refused: list[SendResult]) -> SendResult:
        self.stage = DATA
        accepted = len(self.envelope.rcpt_to) - len(refused)
        if not accepted:
            if self.pipelined:  # DATA was written too: with no recipient it must be refused
                self.dirty = (await wire.reply()).code == 354
            if not self.dirty:
                await self._rset(wire)
            return refused[0]
        reply = await self._command(wire, b"DATA\r\n")
        if reply.code != 354:
            result = classify(reply.code, reply.message, stage=DATA, recipients=accepted)
            if not result.connection_error:
                await self._rset(wire)
            return result
        wire.write(dot_stuffed(self.msg.data, crlf=getattr(self.msg, "crlf", False)), 1)
        reply = await wire.reply()
        result = classify(reply.code, reply.message, stage=DATA, recipients=accepted)
        return refused[0] if result.ok and refused else result

    async def _command(self, wire: Wire, line: bytes):
        """The reply to `line`, written now unless it went out in the pipelined group."""
        if not self.pipelined:
            wire.write(line, 1)
        return await wire.reply()

    async def _rset(self, wire: Wire) -> None:
        """End the transaction after a refusal so the connection can be reused (else it is closed)."""
        try:
            wire.write(b"RSET\r\n", 1)
            self.dirty = (await wire.reply()).code != 250
        except WIRE_ERRORS:
            self.dirty = True


_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")


def dot_stuffed(data: bytes, *, crlf: bool = False) -> bytes:
    """The message as written after 354: CRLF line endings, leading dots doubled, the final dot.
    crlf: the builder promises CRLF throughout (mime.OutgoingMessage.crlf), so the line endings are
    not checked, and every LF is a CRLF's: one bytes.replace of "\\n." (a shorter, faster pattern)."""
    if not crlf and (data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n")):
        data = _LINE_ENDINGS.sub(b"\r\n", data)
    body = (b"." if data.startswith(b".") else b"") + data.replace(b"\n.", b"\n..")
    return body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n")


def _recipients(msg) -> tuple[str, ...]:
    return (msg.rcpt_to,) if isinstance(msg.rcpt_to, str) else tuple(msg.rcpt_to)
