"""The transport contract: `await transport.send(msg) -> SendResult`, and how replies are classified.

A result is one of three outcomes the ledger understands:
- `sent`: the relay accepted the message (2xx after DATA);
- `transient`: try again later (4xx, connection trouble, timeouts);
- `permanent`: never retry (5xx), recorded as a hard bounce.
`skipped` means the transport never opened an SMTP transaction because the caller's `gate`
said no (the campaign was paused or aborted while the message waited for a connection).

The gate contract: `await gate.enter()` right before MAIL FROM, with no await between a True
answer and writing MAIL FROM; `gate.leave()` once MAIL FROM has been answered (or failed), so the
caller knows which transactions are "past the gate" (services.sending.stop_fence waits for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SENT, TRANSIENT, PERMANENT, SKIPPED = "sent", "transient", "permanent", "skipped"


class Gate(Protocol):
    """Asked right before MAIL FROM; False means "do not start this transaction"."""

    async def enter(self) -> bool: ...

    def leave(self) -> None: ...


@dataclass(frozen=True)
class SendResult:
    """What happened to one message: outcome, SMTP code (None without a reply) and the reply text."""

    outcome: str
    code: int | None = None
    response: str = ""
    connection_error: bool = False  # no usable reply at all (refused, dropped, timed out)

    @property
    def ok(self) -> bool:
        return self.outcome == SENT


def classify(code: int | None, response: str = "") -> SendResult:
    """Map an SMTP reply code to an outcome: 2xx sent, 5xx permanent, anything else transient."""
    if code is not None and 200 <= code < 300:
        return SendResult(SENT, code, response)
    if code is not None and 500 <= code < 600:
        return SendResult(PERMANENT, code, response)
    return SendResult(TRANSIENT, code, response, connection_error=code is None)


def connection_trouble(error: BaseException) -> SendResult:
    """A transient result for a failure that produced no SMTP reply."""
    text = f"{type(error).__name__}: {error}".strip()
    return SendResult(TRANSIENT, None, text[:500], connection_error=True)


class Transport(Protocol):
    """Something that delivers an OutgoingMessage (SMTP relay, capture folder)."""

    async def send(self, msg, *, gate: Gate | None = None) -> SendResult: ...

    async def close(self) -> None: ...
