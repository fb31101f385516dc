"""The built-in inbound SMTP receiver (SENDHOUSE_INBOUND_SMTP = "host:port"): the MX of the bounce
domain and of every domain whose inbound is enabled. It accepts mail only for:

- bounces+<token>@<bounce domain>: DSNs (RFC 3464) and ARF complaints (RFC 5965), recorded against
  the ledger row the token names (services/bounces.py);
- unsubscribe+<token>@<bounce domain>: the List-Unsubscribe mailto; unsubscribes that row's
  recipient (services/unsubscribe.py);
- any address at a domain with inbound enabled, or at a project's default receiving domain:
  stored for the inbox (services/inbound_receive.py), up to MAX_MESSAGE_BYTES.
Any other recipient is refused at RCPT (550), so the receiver is no open relay.

It runs on the server's own event loop (aiosmtpd's SMTP protocol on asyncio.start_server), so it
shares the database pool; nothing slow runs on that loop: a message is parsed once, in a thread,
whatever its number of recipients. Repeated RCPTs of one address collapse into one. A message for
report addresses only is capped at REPORT_MAX_BYTES (552 beyond, before it is buffered). Each client
IP may hold a few connections and send a bounded number of messages per minute (smtp_guard). A
failure while recording answers 451 so the sender retries later; a message for the inbox is
answered 250 once it is stored (as PROCESSING: services/inbound_receive), even if processing it
then fails (housekeeping processes it again).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from sendhouse.bootstrap import Container
from sendhouse.domain import tokens
from sendhouse.domain.emails import key_of
from sendhouse.services import bounces, inbound_receive, unsubscribe
from sendhouse.smtpd.smtp_guard import TOO_MANY_MESSAGES, ClientLimits, LimitedSMTP, message_bytes

log = logging.getLogger("sendhouse.inbound")
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
REPORT_MAX_BYTES = 256 * 1024
MAX_RECIPIENTS = 50
MAX_CONNECTIONS_PER_IP = 10
MESSAGES_PER_MINUTE_PER_IP = 120


def parse_listen(value: str, setting: str = "SENDHOUSE_INBOUND_SMTP") -> tuple[str, int]:
    """("host", port) of a "host:port" setting."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{setting} must be host:port, not {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def default_limits() -> ClientLimits:
    return ClientLimits(
        max_connections=MAX_CONNECTIONS_PER_IP, messages_per_minute=MESSAGES_PER_MINUTE_PER_IP
    )


class RoutedEnvelope(Envelope):
    """aiosmtpd's envelope plus where each accepted recipient goes (a VERP target or an inbox route)."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, Any] = {}


class ReceiverSMTP(LimitedSMTP):
    """The receiver's SMTP protocol: its envelopes carry the recipients' targets."""

    def _create_envelope(self) -> RoutedEnvelope:
        return RoutedEnvelope()


@dataclass
class FeedbackHandler:
    """aiosmtpd handler: checks recipients at RCPT, records reports at DATA."""

    container: Container
    limits: ClientLimits = field(default_factory=default_limits)

    def __post_init__(self):
        settings = self.container.settings
        self.secret = settings.resolved_secret_key()
        self.domain = settings.resolved_bounce_domain().lower()

    def target(self, address: str) -> tuple[str, str] | None:
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.domain:
            return None
        return tokens.parse_local_part(self.secret, local)

    async def resolve(self, address: str):
        """A VERP target (kind, row id), a Route for the inbox, or None."""
        found = self.target(address)
        if found is not None:
            return found
        return await inbound_receive.route(self.container.db, self.container.settings, address)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: RoutedEnvelope, address: str, options
    ):
        if not self.limits.take_message(getattr(server, "client_ip", None) or "unknown"):
            return TOO_MANY_MESSAGES
        server.data_size_limit = REPORT_MAX_BYTES  # until a recipient for the inbox is accepted
        envelope.mail_from, envelope.mail_options = address, list(options)
        envelope.targets = {}
        return "250 OK"

    async def handle_RCPT(self, server, session: Session, envelope: RoutedEnvelope, address: str, options):
        if key_of(address) in {key_of(seen) for seen in envelope.rcpt_tos}:
            return "250 OK"  # the same recipient again: one delivery
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            found = await self.resolve(address)
        except Exception:
            log.exception("routing an inbound recipient failed")
            return "451 4.3.0 Temporary failure, try again later"
        if found is None:
            return "550 5.1.1 No such recipient here"
        if not isinstance(found, tuple):
            server.data_size_limit = MAX_MESSAGE_BYTES
        envelope.rcpt_tos.append(address)
        envelope.targets[key_of(address)] = found
        return "250 OK"

    async def handle_RSET(self, server, session: Session, envelope: RoutedEnvelope):
        server.data_size_limit = MAX_MESSAGE_BYTES  # what EHLO and the next MAIL's SIZE= are checked against
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: RoutedEnvelope):
        server.data_size_limit = MAX_MESSAGE_BYTES
        raw = message_bytes(envelope)
        targets = set(envelope.targets.values())
        try:
            await self._deliver_all({t for t in targets if isinstance(t, tuple)}, raw)
            await self._store(
                server, session, envelope, raw, [t for t in targets if not isinstance(t, tuple)]
            )
        except Exception:
            log.exception("recording an inbound message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 Accepted"

    async def _store(
        self, server, session: Session, envelope: RoutedEnvelope, raw: bytes, routes: list
    ) -> None:
        if not routes:
            return
        details = inbound_receive.Envelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            client_ip=getattr(server, "client_ip", None) or "",
            helo=session.host_name or "",
        )
        await inbound_receive.receive(
            self.container.db,
            self.container.settings,
            details,
            raw,
            sorted(routes, key=lambda r: (r.project_id, r.domain_name)),
        )

    async def _deliver_all(self, targets: set[tuple[str, str]], raw: bytes) -> None:
        """Record the message for each distinct target, parsing a report at most once (in a thread)."""
        db, settings = self.container.db, self.container.settings
        rows = sorted(row_id for kind, row_id in targets if kind == "bounce")
        report = await bounces.parse_report_off_loop(raw) if rows else None
        for row_id in rows:
            await bounces.record_parsed_report(db, settings, row_id, report)
        for row_id in sorted(row_id for kind, row_id in targets if kind != "bounce"):
            await unsubscribe.unsubscribe_row(db, row_id)


@asynccontextmanager
async def inbound_part(container, listen: str | None = None, *, limits: ClientLimits | None = None):
    """The receiver listening on `listen` (default: the setting) for the life of the block."""
    host, port = parse_listen(listen or container.settings.inbound_smtp)
    handler = FeedbackHandler(container, limits or default_limits())

    def protocol() -> SMTP:
        return ReceiverSMTP(
            handler,
            limits=handler.limits,
            data_size_limit=MAX_MESSAGE_BYTES,
            hostname=handler.domain,
            timeout=60,
        )

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
