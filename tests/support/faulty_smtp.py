"""A misbehaving SMTP relay (aiosmtpd on 127.0.0.1) for the fault suite, and its transaction log.

Each transaction draws one fault when its first RCPT TO arrives, from a random.Random seeded by
(seed, address, how many transactions that address has had), so the faults an address meets
do not depend on the order the worker sends in. The faults:

- `421@rcpt`, `451@rcpt`, `550@rcpt`: the RCPT TO is answered so (421 makes the client hang up);
- `451@data`, `550@data`: the whole message is read, then refused;
- `cut`: after the 354, a few lines of the body are read and the connection is closed (not kept);
- `drop`: the whole message is read and kept, then the connection is closed before any reply;
- `stall@rcpt`: RCPT TO is not answered for `stall` seconds (past the client's timeout);
- `stall@data`: the message is kept, and the reply comes only after `stall` seconds.

Every kept copy is logged with its Message-ID and whether the client surely learned it was
accepted: a 250 counts as heard once the client sends its next command on that connection (MAIL,
RSET, NOOP, QUIT); a 250 followed by the connection closing, a `drop` and a `stall@data` are
"unheard" — the only legitimate source of a second copy (DESIGN §1).
`pipelining=True` offers PIPELINING (RFC 2920), so the client sends MAIL, RCPT and DATA at once.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.smtp_sink import free_port

_PARSER = email.parser.BytesHeaderParser(policy=email.policy.default)
DEFAULT_RATES = {
    "421@rcpt": 0.04,
    "451@rcpt": 0.04,
    "550@rcpt": 0.006,
    "451@data": 0.04,
    "550@data": 0.006,
    "cut": 0.04,
    "drop": 0.03,
    "stall@rcpt": 0.006,
    "stall@data": 0.006,
}
KEEPING = ("ok", "drop", "stall@data")


@dataclass
class Copy:
    """One message the relay kept."""

    rcpt: str
    message_id: str
    heard: bool | None = None  # None: 250 written, not yet known whether the client read it


@dataclass
class FaultLog:
    """What happened, per address: every fault drawn, every reply code written, every copy kept."""

    faults: dict[str, list[str]] = field(default_factory=dict)
    replies: dict[str, list[int]] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def draw(self, seed: int, rcpt: str, rates: dict[str, float]) -> str:
        with self.lock:
            past = self.faults.setdefault(rcpt, [])
            rng = random.Random(f"{seed}:{rcpt}:{len(past)}")
            roll, fault = rng.random(), "ok"
            for name, rate in rates.items():
                if roll < rate:
                    fault = name
                    break
                roll -= rate
            past.append(fault)
            return fault

    def reply(self, rcpt: str, code: int) -> None:
        with self.lock:
            self.replies.setdefault(rcpt, []).append(code)

    def keep(self, rcpt: str, message_id: str, heard: bool | None) -> Copy:
        with self.lock:
            self.copies.append(copy := Copy(rcpt, message_id, heard))
            return copy


class FaultySMTP(SMTP):
    """aiosmtpd's SMTP with a `cut` DATA and the connection's unconfirmed 250 settled on close."""

    async def smtp_DATA(self, arg: str) -> None:
        if getattr(self.session, "fault", None) != "cut" or not self.envelope.rcpt_tos:
            return await super().smtp_DATA(arg)
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        for _ in range(3):
            await self._reader.readuntil(b"\r\n")
        self.transport.close()
        await asyncio.sleep(30)  # cancelled when the connection is lost; the rest is never read

    def connection_lost(self, error) -> None:
        pending = getattr(self.session, "unheard", None)
        if pending is not None and pending.heard is None:
            pending.heard = False
        super().connection_lost(error)


@dataclass
class FaultyHandler:
    seed: int
    rates: dict[str, float]
    stall: float
    log: FaultLog = field(default_factory=FaultLog)
    pipelining: bool = False

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses[:-1] + (["250-PIPELINING"] if self.pipelining else []) + responses[-1:]

    def _settle(self, session) -> None:
        """The client sent another command: the 250 before it was heard."""
        pending = getattr(session, "unheard", None)
        if pending is not None and pending.heard is None:
            pending.heard = True
        session.unheard = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self._settle(session)
        session.fault = None
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):
        self._settle(session)
        return "250 OK"

    async def handle_NOOP(self, server, session, envelope, arg):
        self._settle(session)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self._settle(session)
        return "221 Bye"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        session.fault = fault = self.log.draw(self.seed, address, self.rates)
        if fault == "stall@rcpt":
            await asyncio.sleep(self.stall)  # the client has given up by now
        if fault.endswith("@rcpt") and fault != "stall@rcpt":
            code = int(fault[:3])
            self.log.reply(address, code)
            return f"{code} {'4.3.0 try again later' if code < 500 else '5.1.1 no such user'}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt, fault = envelope.rcpt_tos[0], session.fault
        if fault in ("451@data", "550@data"):
            self.log.reply(rcpt, int(fault[:3]))
            return "451 4.3.0 queue full" if fault == "451@data" else "550 5.7.1 message refused"
        head = _PARSER.parsebytes((envelope.original_content or envelope.content).split(b"\r\n\r\n", 1)[0])
        copy = self.log.keep(rcpt, str(head.get("Message-ID", "")), None if fault == "ok" else False)
        if fault == "drop":
            server.transport.close()
            await asyncio.sleep(30)  # cancelled when the connection is lost
        if fault == "stall@data":
            await asyncio.sleep(self.stall)
        self.log.reply(rcpt, 250)
        session.unheard = copy
        return "250 2.0.0 accepted"


class FaultySmtp:
    """`with FaultySmtp(seed=…) as relay:`; `relay.url(timeout)` is the smtp:// URL to deliver to."""

    def __init__(
        self,
        *,
        seed: int,
        rates: dict[str, float] | None = None,
        stall: float = 3.0,
        pipelining: bool = False,
    ):
        self.handler = FaultyHandler(seed, dict(rates or DEFAULT_RATES), stall, pipelining=pipelining)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=free_port(), data_size_limit=0)
        self.controller.factory = lambda: FaultySMTP(self.handler, hostname="faulty.test")

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def url(self, timeout: float) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}?timeout={timeout}"

    @property
    def log(self) -> FaultLog:
        return self.handler.log

    def copies_by_rcpt(self) -> dict[str, list[Copy]]:
        with self.log.lock:
            out: dict[str, list[Copy]] = {}
            for copy in self.log.copies:
                out.setdefault(copy.rcpt, []).append(copy)
            return out

    def fault_counts(self) -> Counter:
        with self.log.lock:
            return Counter(f for faults in self.log.faults.values() for f in faults)
