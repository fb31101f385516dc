"""smtpd/smtp_data reads DATA in chunks: the same message, refusals and leftover stream as
aiosmtpd's line-by-line reading, however the bytes are split across reads."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from sendhouse.smtpd.smtp_data import TOO_LONG, TOO_MUCH, read_data, unstuffed

NEXT = b"MAIL FROM:<a@example.com>\r\n"  # a command pipelined right after the data
LINE_LIMIT = 1001


def stuffed(lines: list[bytes]) -> bytes:
    """The DATA payload of CRLF-less lines, as a client sends it (dot-stuffed, CRLF.CRLF at the end)."""
    return b"".join((b"." if line.startswith(b".") else b"") + line + b"\r\n" for line in lines) + b".\r\n"


async def read_split(
    stream: bytes, cuts: list[int], size_limit: int | None = None, line_limit: int = LINE_LIMIT
) -> tuple[bytes, str | None, bytes]:
    """read_data over `stream` fed in pieces cut at `cuts`: (message, refusal, what is left)."""
    reader = asyncio.StreamReader(limit=line_limit)
    task = asyncio.create_task(read_data(reader, size_limit, line_limit))
    for start, end in zip([0, *sorted(cuts)], [*sorted(cuts), len(stream)], strict=True):
        reader.feed_data(stream[start:end])
        await asyncio.sleep(0)
    reader.feed_eof()
    data, refusal = await task
    return unstuffed(data), refusal, await reader.read()


def reference(stream: bytes, size_limit: int | None, line_limit: int) -> tuple[bytes, set[str]]:
    """aiosmtpd's reading, line by line: the message and the refusals met (none, or the possible ones)."""
    lines, size, refusals = [], 0, set()
    while True:
        end = stream.index(b"\r\n") + 2
        line, stream = stream[:end], stream[end:]
        if line == b".\r\n":
            break
        size += len(line)
        if len(line) > line_limit:
            refusals.add(TOO_LONG)
        if size_limit and size > size_limit:
            refusals.add(TOO_MUCH)
        lines.append(line[1:] if line.startswith(b".") else line)
    return b"".join(lines), refusals


async def test_dot_stuffed_lines_come_back_unstuffed():
    lines = [b".starts with a dot", b"..two", b"", b".", b"middle . dot", b"end."]
    data, refusal, rest = await read_split(stuffed(lines) + NEXT, [])
    assert (data, refusal, rest) == (b"".join(line + b"\r\n" for line in lines), None, NEXT)


async def test_empty_data_and_a_lone_empty_line():
    assert await read_split(b".\r\n" + NEXT, []) == (b"", None, NEXT)
    assert await read_split(b"\r\n.\r\n" + NEXT, [1, 2, 3]) == (b"\r\n", None, NEXT)


async def test_every_split_of_a_message_and_its_end_marker_reads_the_same():
    lines = [b"Subject: hi", b"", b"." * 3, b"a\rb\nc", b"x" * 1200]
    stream = stuffed(lines) + NEXT
    expected = b"".join(line + b"\r\n" for line in lines)
    for cut in range(1, len(stream)):
        assert await read_split(stream, [cut], line_limit=2000) == (expected, None, NEXT), cut


async def test_the_end_marker_byte_by_byte():
    stream = stuffed([b"one", b"two"]) + NEXT
    assert await read_split(stream, list(range(1, len(stream)))) == (b"one\r\ntwo\r\n", None, NEXT)


async def test_size_limit_at_and_above_counts_the_stuffed_data():
    lines = [b"a" * 98, b".b" + b"c" * 96]  # 100 + 100 bytes sent, the second dot-stuffed
    stream = stuffed(lines) + NEXT
    assert (await read_split(stream, [150], size_limit=201))[1:] == (None, NEXT)
    assert (await read_split(stream, [150], size_limit=200))[1:] == (TOO_MUCH, NEXT)
    data, refusal, rest = await read_split(stream, [150], size_limit=199)
    assert (data, refusal, rest) == (b"", TOO_MUCH, NEXT)


async def test_a_line_over_the_line_limit_is_refused_after_the_data():
    at_limit = b"x" * (LINE_LIMIT - 2)
    assert (await read_split(stuffed([at_limit]) + NEXT, [500]))[1:] == (None, NEXT)
    assert (await read_split(stuffed([at_limit + b"x"]) + NEXT, [500]))[1:] == (TOO_LONG, NEXT)
    huge = stuffed([b"short", b"y" * 50_000, b"short"]) + NEXT
    assert await read_split(huge, [3000, 20_000]) == (b"", TOO_LONG, NEXT)


LINE = st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"xyz"]), max_size=12).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(LINE.filter(lambda line: b"\r\n" not in line), max_size=8),
    cuts=st.lists(st.integers(1, 200), max_size=6),
    size_limit=st.sampled_from([None, 0, 5, 20, 60]),
)
def test_reads_as_aiosmtpd_reads_line_by_line(lines, cuts, size_limit):
    stream = stuffed(lines)
    cuts = sorted({cut for cut in cuts if cut < len(stream) + len(NEXT)})
    expected, refusals = reference(stream, size_limit, 16)
    data, refusal, rest = asyncio.run(read_split(stream + NEXT, cuts, size_limit, line_limit=16))
    assert rest == NEXT
    if refusals:
        assert refusal in refusals and data == b""
    else:
        assert (data, refusal) == (expected, None)
