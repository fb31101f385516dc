"""The transport contract: `await transport.send(msg) -> SendResult`, and how replies are classified.

A result is one of four outcomes the ledger understands:
- `sent`: the relay accepted the message (2xx after DATA);
- `transient`: try again later (4xx, and every relay or connection failure);
- `permanent`: never retry. With an SMTP code it is a hard bounce (services.sending records it as
  a bounce and services/feedback.record suppresses the address); without one it is a message that
  cannot be sent at all (nothing is suppressed);
- `skipped`: the transport never opened an SMTP transaction because the caller's `gate` said no
  (the campaign was paused or aborted while the message waited for a connection).

Classification by SMTP stage (`SendResult.stage`: connect, mail, rcpt, data, local). Only a 5xx
answer to RCPT TO for that recipient, or to DATA in a one-recipient transaction, says something
about the recipient and is a hard bounce. Everything else that fails is a relay or connection
failure (`connection_error=True`, always `transient`): a refused MAIL FROM (any code), protocol
errors (500-504 and enhanced status 5.5.x), authentication errors (530, 534, 535, 538), 421,
TLS failures, drops, timeouts and any local exception. The transport closes the connection after
such a failure, and the worker counts transient results toward the relay-failure limit.

The gate contract: `await gate.enter()` right before MAIL FROM, with no await between a True
answer and writing MAIL FROM; `gate.leave()` once MAIL FROM has been answered (or failed), so the
caller knows which transactions are "past the gate": the worker's admissions (admission.py) wait
for them before letting go of a campaign's fence lock, which a pause or abort waits for
(store/fence.py, services.campaigns.stop_fence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SENT, TRANSIENT, PERMANENT, SKIPPED = "sent", "transient", "permanent", "skipped"
CONNECT, MAIL, RCPT, DATA, LOCAL = "connect", "mail", "rcpt", "data", "local"
PROTOCOL_CODES = frozenset({500, 501, 502, 503, 504})  # syntax, unknown command, bad sequence
AUTH_CODES = frozenset({530, 534, 535, 538})  # authentication required, too weak, failed, needs TLS
CLOSING = 421  # the relay is closing the connection


class Gate(Protocol):
    """Asked right before MAIL FROM; False means "do not start this transaction"."""

    async def enter(self) -> bool: ...

    def leave(self) -> None: ...


@dataclass(frozen=True)
class SendResult:
    """What happened to one message: outcome, SMTP code (None without a reply), the reply text,
    whether it was a relay or connection failure (never about the recipient) and at which stage."""

    outcome: str
    code: int | None = None
    response: str = ""
    connection_error: bool = False  # relay/connection failure: connection closed, recipient untouched
    stage: str | None = None

    def __post_init__(self) -> None:
        if self.connection_error and self.outcome != TRANSIENT:
            raise ValueError("a relay or connection failure is always transient")

    @property
    def ok(self) -> bool:
        return self.outcome == SENT

    @property
    def hard_bounce(self) -> bool:
        """A permanent refusal of the recipient by the relay: services.sending records it as a bounce
        (services/feedback.record then suppresses the address)."""
        return self.outcome == PERMANENT and self.code is not None


def about_recipient(code: int, response: str) -> bool:
    """True for a 5xx that refuses the recipient, False for protocol and authentication errors."""
    if not 500 <= code < 600 or code in PROTOCOL_CODES or code in AUTH_CODES:
        return False
    return not response.lstrip().startswith("5.5.")


def classify(code: int | None, response: str = "", *, stage: str = DATA, recipients: int = 1) -> SendResult:
    """The outcome of the reply `code` at `stage`: 2xx sent; a 5xx about the recipient at RCPT (or at
    DATA with one recipient) permanent; a 4xx at RCPT or DATA transient; anything else a relay failure."""
    if code is not None and 200 <= code < 300:
        return SendResult(SENT, code, response, stage=stage)
    if code is None:
        return SendResult(TRANSIENT, None, response, connection_error=True, stage=stage)
    per_recipient = stage == RCPT or (stage == DATA and recipients == 1)
    if per_recipient and about_recipient(code, response):
        return SendResult(PERMANENT, code, response, stage=stage)
    if stage in (RCPT, DATA) and 400 <= code < 500 and code != CLOSING:
        return SendResult(TRANSIENT, code, response, stage=stage)
    return relay_failure(code, response, stage=stage)


def relay_failure(code: int | None, response: str, *, stage: str) -> SendResult:
    """A failure of the relay or the connection: transient, never about the recipient."""
    return SendResult(TRANSIENT, code, response[:500], connection_error=True, stage=stage)


def connection_trouble(error: BaseException, *, stage: str = LOCAL) -> SendResult:
    """A transient result for a failure that produced no SMTP reply (or a local exception)."""
    text = f"{type(error).__name__}: {error}".strip()
    return relay_failure(getattr(error, "code", None) if _smtp_code(error) else None, text, stage=stage)


def _smtp_code(error: BaseException) -> bool:
    code = getattr(error, "code", None)
    return isinstance(code, int) and 200 <= code < 600


class Transport(Protocol):
    """Something that delivers an OutgoingMessage (SMTP relay, capture folder)."""

    async def send(self, msg, *, gate: Gate | None = None) -> SendResult: ...

    async def close(self) -> None: ...
