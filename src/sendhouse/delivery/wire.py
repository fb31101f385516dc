"""The SMTP wire of one transaction: raw command writes and replies read strictly in order.

aiosmtplib's protocol pairs one reply with one command and drops bytes that arrive while no
command is waiting, so it cannot read the replies of pipelined commands (RFC 2920). For the
length of one transaction, `Wire(client)` stands in as the protocol of the client's transport
(asyncio's public `set_protocol`; the TLS transport too), queues every reply it parses, and puts
aiosmtplib's protocol back afterwards. A lost connection or an end of file fails the waiting read
and is passed on to aiosmtplib's protocol, so the client knows it is closed. The connection is
`clean` only when every reply written for was read and no stray bytes are left.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Self, cast

import aiosmtplib
from aiosmtplib import SMTPResponse

MAX_REPLY = 32 * 1024


class Wire(asyncio.Protocol):
    """`with Wire(client) as wire:` then `wire.write(lines)` and `await wire.reply()` per command."""

    def __init__(self, client: aiosmtplib.SMTP):
        self.client, self.timeout = client, client.timeout
        transport = client.transport
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        self.transport: asyncio.Transport = cast(asyncio.Transport, transport)  # a stream transport
        self.inner = self.transport.get_protocol()
        self.buffer = bytearray()
        self.replies: deque[SMTPResponse] = deque()
        self.expected = 0  # replies owed for the commands written so far
        self.failure: Exception | None = None
        self.waiter: asyncio.Future | None = None

    def __enter__(self) -> Self:
        self.transport.set_protocol(self)
        return self

    def __exit__(self, *exc) -> None:
        self.transport.set_protocol(self.inner)

    @property
    def clean(self) -> bool:
        return (
            self.failure is None
            and self.expected == 0
            and not self.buffer
            and not self.transport.is_closing()
        )

    def write(self, data: bytes, commands: int) -> None:
        """Write `commands` commands (or a message body, 1) in one go."""
        if self.failure is not None:
            raise self.failure
        if self.transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self.expected += commands
        self.transport.write(data)

    async def reply(self) -> SMTPResponse:
        """The next reply, in the order the commands were written."""
        if not self.replies and self.failure is None:
            loop = asyncio.get_running_loop()
            self.waiter = loop.create_future()
            timer = loop.call_later(self.timeout, self._time_out) if self.timeout else None
            try:
                await self.waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
        if self.replies:
            self.expected -= 1
            return self.replies.popleft()
        assert self.failure is not None  # the waiter is woken only by a reply or a failure
        raise self.failure

    # --- asyncio.Protocol ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        try:
            while (reply := self._parse()) is not None:
                self.replies.append(reply)
        except aiosmtplib.SMTPResponseException as error:
            self._fail(error)
        self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection lost"))
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # --- internals -------------------------------------------------------------------------------

    def _fail(self, error: Exception) -> None:
        if self.failure is None:
            self.failure = error
        self._wake()

    def _time_out(self) -> None:
        self._fail(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done() and (self.replies or self.failure):
            self.waiter.set_result(None)

    def _parse(self) -> SMTPResponse | None:
        """One complete (possibly multi-line) reply from the front of the buffer, or None."""
        offset, lines = 0, []
        while (end := self.buffer.find(b"\n", offset)) != -1:
            line = bytes(self.buffer[offset : end + 1])
            offset = end + 1
            if len(line) < 4 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
                raise aiosmtplib.SMTPResponseException(-1, f"Malformed SMTP reply line: {line[:80]!r}")
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                del self.buffer[:offset]
                return SMTPResponse(int(line[:3]), b"\n".join(lines).decode("utf-8", "surrogateescape"))
        if len(self.buffer) > MAX_REPLY:
            raise aiosmtplib.SMTPResponseException(-1, "Reply too long")
        return None
