"""The built-in inbound SMTP receiver (SENDHOUSE_INBOUND_SMTP = "host:port"): the MX of the bounce
domain. It accepts mail only for genuine VERP addresses of that domain:

- bounces+<token>@<bounce domain>: DSNs (RFC 3464) and ARF complaints (RFC 5965), recorded against
  the ledger row the token names (services/bounces.py);
- unsubscribe+<token>@<bounce domain>: the List-Unsubscribe mailto; unsubscribes that row's
  recipient (services/unsubscribe.py).
Any other recipient is refused at RCPT (550), so the receiver is no open relay and no mailbox.
It runs on the server's own event loop (aiosmtpd's SMTP protocol on asyncio.start_server), so it
shares the database pool. A failure while recording answers 451 so the sender retries later.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from sendhouse.domain import tokens

log = logging.getLogger("sendhouse.inbound")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
MAX_RECIPIENTS = 50


def parse_listen(value: str) -> tuple[str, int]:
    """("host", port) of a "host:port" setting."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"SENDHOUSE_INBOUND_SMTP must be host:port, not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class FeedbackHandler:
    """aiosmtpd handler: checks recipients at RCPT, records reports at DATA."""

    container: object

    def __post_init__(self):
        settings = self.container.settings
        self.secret = settings.resolved_secret_key()
        self.domain = settings.resolved_bounce_domain().lower()

    def target(self, address: str) -> tuple[str, str] | None:
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.domain:
            return None
        return tokens.parse_local_part(self.secret, local)

    async def handle_RCPT(self, server, session: Session, envelope: Envelope, address: str, options):
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if self.target(address) is None:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        raw = envelope.original_content or envelope.content
        try:
            for address in envelope.rcpt_tos:
                await self._deliver(self.target(address), raw)
        except Exception:
            log.exception("recording an inbound message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 Accepted"

    async def _deliver(self, target: tuple[str, str] | None, raw: bytes) -> None:
        from sendhouse.services import bounces, unsubscribe

        if target is None:
            return
        kind, row_id = target
        if kind == "bounce":
            await bounces.handle_bounce_message(self.container.db, self.container.settings, row_id, raw)
        else:
            await unsubscribe.unsubscribe_row(self.container.db, row_id)


@asynccontextmanager
async def inbound_part(container, listen: str | None = None):
    """The receiver listening on `listen` (default: the setting) for the life of the block."""
    import asyncio

    host, port = parse_listen(listen or container.settings.inbound_smtp)
    handler = FeedbackHandler(container)

    def protocol() -> SMTP:
        return SMTP(handler, data_size_limit=MAX_MESSAGE_BYTES, hostname=handler.domain, timeout=60)

    server = await asyncio.get_running_loop().create_server(protocol, host=host, port=port)
    log.info("inbound SMTP receiver listening on %s:%d", host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def switched_off():
    """The part when SENDHOUSE_INBOUND_SMTP is empty: nothing listens."""
    yield None
