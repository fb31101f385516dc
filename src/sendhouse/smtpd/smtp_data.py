"""Reading the data of an SMTP DATA command in large chunks (RFC 5321 §4.1.1.4 and §4.5.2).

aiosmtpd's own smtp_DATA reads the message one line at a time (a `readuntil` and some list work
per line, about a fifth of a submission server's time). ChunkedDataSMTP reads up to the end-of-data
marker CRLF "." CRLF instead: `StreamReader.readuntil` finds it in what the connection already
holds, so a message of a few KB arriving in one TLS record takes a handful of calls. Nothing past the
marker is consumed, so commands pipelined after the data (RFC 2920) stay in the stream.

The behaviour is aiosmtpd's: the data are dot-unstuffed (a line's leading "." removed), a line
longer than `line_length_limit` (CRLF included) is answered 500 and data larger than
`data_size_limit` (counted dot-stuffed, without the final ".") 552, both after the whole data is
read; when both happen the one met first in the stream wins (to within a chunk). Data beyond the
size limit are counted, not kept.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import MISSING, SMTP

log = logging.getLogger("mail.log")
END = b"\r\n.\r\n"
_STRADDLE = (b"\r", b"\r\n", b"\r\n.")  # endings of what was read that may begin the marker
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"


async def _chunk(reader: asyncio.StreamReader, last: bytes) -> bytes:
    """The next chunk of the data; `last`: the final bytes read so far. While these may begin the
    marker, one byte (so the marker is never read past); else up to and including the marker, or
    as much as the reader holds when it is not there yet (readuntil keeps the bytes that could
    begin it)."""
    if last.endswith(_STRADDLE):
        return await reader.readexactly(1)
    try:
        return await reader.readuntil(END)
    except asyncio.LimitOverrunError as error:
        return await reader.readexactly(error.consumed)


def has_long_line(data: bytes, line_limit: int) -> bool:
    """Whether a CRLF-terminated line of `data` is longer than `line_limit` with its CRLF."""
    return len(data) + 2 > line_limit and max(map(len, data.split(b"\r\n"))) + 2 > line_limit


def unstuffed(data: bytes) -> bytes:
    """The data without the "." that the client put before each line starting with one."""
    data = data.replace(b"\r\n.", b"\r\n")
    return data[1:] if data.startswith(b".") else data


async def read_data(
    reader: asyncio.StreamReader, size_limit: int | None, line_limit: int
) -> tuple[bytes, str | None]:
    """(the dot-stuffed data without the final "." line, None), or (b"", the refusal) when a line
    or the whole is too long. Reads through the end-of-data marker in any case."""
    kept: list[bytes] | None = []
    last, total, refusal = b"\r\n", 0, None  # the DATA command's CRLF precedes the data
    while last != END:
        chunk = await _chunk(reader, last)
        last, total = (last + chunk[-5:])[-5:], total + len(chunk)
        if kept is not None:
            kept.append(chunk)
            if size_limit and total > size_limit + 3:  # the final ".\r\n" is not counted
                long = has_long_line(b"".join(kept), line_limit)
                kept, refusal = None, TOO_LONG if long else TOO_MUCH
    if kept is None:
        return b"", refusal
    data = b"".join(kept)[:-3]
    return (b"", TOO_LONG) if has_long_line(data, line_limit) else (data, None)


class ChunkedDataSMTP(SMTP):
    """aiosmtpd's SMTP whose DATA reads the message in chunks (read_data) instead of by lines."""

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            return await self.push("503 Error: need RCPT command")
        if arg:
            return await self.push("501 Syntax: DATA")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data, refusal = await read_data(self._reader, self.data_size_limit, self.line_length_limit)
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if refusal is not None:
            self._set_post_data_state()
            return await self.push(refusal)
        await self._deliver(unstuffed(data))

    async def _deliver(self, content: bytes) -> None:
        """Hand the message to the handler's handle_DATA; answer its reply (250 OK without one)."""
        assert self.envelope is not None
        if self._decode_data:
            try:
                self.envelope.content = content.decode(
                    "utf-8" if self.enable_SMTPUTF8 else "ascii",
                    "surrogateescape" if self.enable_SMTPUTF8 else "strict",
                )
            except UnicodeDecodeError:
                return await self.push("500 Error: strict ASCII mode")
        else:
            self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)
