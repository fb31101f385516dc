"""Per-client limits for the built-in SMTP servers (the inbound receiver and submission).

ClientLimits counts open connections and messages in the last minute per key: the client's IP
address for the receiver, the credential for submission. LimitedSMTP is aiosmtpd's SMTP protocol
that answers 421 and hangs up at once when a client already holds its share of connections, so a
flood from one address cannot take every slot of the server. All in memory of one process: the
limits are per server process, which is where the sockets and the event loop are.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from aiosmtpd.smtp import Envelope

from sendhouse.smtpd.smtp_data import ChunkedDataSMTP

WINDOW_SECONDS = 60.0
TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections from your address, try again later\r\n"
TOO_MANY_MESSAGES = "451 4.7.1 Too many messages, slow down and try again later"


@dataclass
class ClientLimits:
    """Open connections and messages per minute allowed to one key (0: no limit)."""

    max_connections: int = 10
    messages_per_minute: int = 120
    _open: Counter = field(default_factory=Counter)
    _sent: dict[str, deque] = field(default_factory=dict)

    def open(self, key: str) -> bool:
        """Count one more connection of `key`; False (nothing counted) when it holds its share."""
        if self.max_connections and self._open[key] >= self.max_connections:
            return False
        self._open[key] += 1
        return True

    def close(self, key: str) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def take_message(self, key: str, now: float | None = None) -> bool:
        """Count one message of `key` in the sliding minute; False when it already sent its share."""
        if not self.messages_per_minute:
            return True
        now = time.monotonic() if now is None else now
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - WINDOW_SECONDS:
            sent.popleft()
        if len(sent) >= self.messages_per_minute:
            return False
        sent.append(now)
        return True


def peer_ip(transport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


def message_bytes(envelope: Envelope) -> bytes:
    """The message of DATA as received (aiosmtpd keeps the raw bytes beside its decoded copy)."""
    return envelope.original_content or b""


class LimitedSMTP(ChunkedDataSMTP):
    """aiosmtpd's SMTP (reading DATA in chunks: smtp_data) that admits a connection only within its client IP's connection limit."""

    def __init__(self, handler, *, limits: ClientLimits, **kwargs):
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.client_ip: str | None = None

    def connection_made(self, transport) -> None:
        if self.transport is None and self.client_ip is None:  # first call (a second one follows STARTTLS)
            ip = peer_ip(transport)
            if not self.limits.open(ip):
                transport.write(TOO_MANY_CONNECTIONS)
                transport.close()
                return
            self.client_ip = ip
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if self.client_ip is None:
            return
        self.limits.close(self.client_ip)
        self.client_ip = None
        super().connection_lost(error)
