"""Delivery transports: make_transport(settings) picks capture or an SMTP relay pool."""

from __future__ import annotations

from sendhouse.delivery.base import PERMANENT, SENT, SKIPPED, TRANSIENT, SendResult, Transport, classify
from sendhouse.delivery.capture import CaptureTransport
from sendhouse.delivery.smtp import SmtpTransport


def make_transport(settings) -> Transport:
    """The transport SENDHOUSE_SMTP_URL names: `capture` (default) or an SMTP relay pool."""
    url = (settings.smtp_url or "capture").strip()
    if url == "capture":
        return CaptureTransport(settings.data_dir)
    from sendhouse.observability import TimedTransport  # SMTP latency for /metrics

    return TimedTransport(SmtpTransport(url, connections=settings.smtp_connections))


__all__ = [
    "PERMANENT",
    "SENT",
    "SKIPPED",
    "TRANSIENT",
    "SendResult",
    "Transport",
    "classify",
    "make_transport",
]
