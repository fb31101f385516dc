"""An in-process SMTP sink (aiosmtpd Controller on 127.0.0.1) that records every transaction.

Records the time (time.monotonic) of every MAIL FROM, and every accepted message with its
envelope and Message-ID. Behaviour can be scripted: a delay before answering each DATA, and
replies chosen per recipient (`rcpt_replies`) or for the next DATA commands (`data_replies`).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from aiosmtpd.controller import Controller

_PARSER = email.parser.BytesHeaderParser(policy=email.policy.default)


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    message_id: str
    at: float


@dataclass
class SinkHandler:
    data_delay: float = 0.0
    rcpt_reply: Callable[[str], str | None] | None = None  # address → reply ("550 …") or None for 250
    data_replies: list[str] = field(default_factory=list)  # consumed one per DATA
    mail_from_times: list[float] = field(default_factory=list)
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mail_from_times.append(time.monotonic())
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_reply(address) if self.rcpt_reply else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            scripted = self.data_replies.pop(0) if self.data_replies else None
        if scripted:
            return scripted
        data = envelope.original_content or envelope.content
        head = _PARSER.parsebytes(data.split(b"\r\n\r\n", 1)[0])
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    data,
                    str(head.get("Message-ID", "")),
                    time.monotonic(),
                )
            )
        return "250 2.0.0 accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    """Start with `with SmtpSink(...) as sink:`; `sink.url` is the smtp:// URL to deliver to."""

    def __init__(self, **behaviour):
        self.handler = SinkHandler(**behaviour)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port(), data_size_limit=0)

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def recipients(self) -> Counter:
        """How many copies each address received."""
        return Counter(rcpt for m in self.messages for rcpt in m.rcpt_to)

    def mail_from_times(self) -> list[float]:
        with self.handler.lock:
            return list(self.handler.mail_from_times)
