"""The SMTP submission server for apps (SENDHOUSE_SUBMISSION_SMTP = "host:port"), on aiosmtpd.

- STARTTLS with the configured certificate (SENDHOUSE_SUBMISSION_TLS_CERT/_KEY), and implicit TLS
  on SENDHOUSE_SUBMISSION_SMTPS when set;
- AUTH PLAIN or LOGIN, the password being a per-project SMTP key (services/smtp_keys), any user
  name; AUTH is refused without TLS (538) except on a loopback connection (auth_needs_tls);
- MAIL, RCPT and DATA only once authenticated (530); each accepted message becomes a transactional
  ledger row before the 250, whose text carries the email id; PIPELINING (RFC 2920) is offered;
- refusals: 535 bad credentials, 550 a `from` on a domain the project may not use, 552 over
  MAX_MESSAGE_BYTES, 554 other invalid content, 451 when the database is unavailable;
- limits per SMTP key (connections, messages per minute: the settings) and per client IP
  (connections).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import ssl
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from sendhouse.bootstrap import Container
from sendhouse.domain.emails import key_of
from sendhouse.errors import AppError, InvalidOperation
from sendhouse.services import smtp_keys, submission
from sendhouse.smtpd.inbound import parse_listen
from sendhouse.smtpd.smtp_guard import TOO_MANY_MESSAGES, ClientLimits, LimitedSMTP, message_bytes

log = logging.getLogger("sendhouse.submission")
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
MAX_RECIPIENTS = 50
CONNECTIONS_PER_IP = 50
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_PATH = re.compile(
    rf"\s*<({_DOT_ATOM}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)>"
)
TOO_MANY_KEY_CONNECTIONS = "454 4.7.0 Too many connections with this SMTP key, try again later"
HELD_REPLIES = (b"250 ", b"354 ")  # replies that may wait for the end of the event loop's turn


def auth_needs_tls(local_ip: str | None, peer_ip: str | None) -> bool:
    """AUTH is allowed in the clear only on a loopback connection (both ends loopback)."""
    if local_ip is None or peer_ip is None:
        return True
    try:
        return not (ipaddress.ip_address(local_ip).is_loopback and ipaddress.ip_address(peer_ip).is_loopback)
    except (TypeError, ValueError):
        return True


def tls_context(settings) -> ssl.SSLContext | None:
    """The server-side TLS context of the configured certificate, or None (no STARTTLS offered)."""
    if not settings.submission_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.submission_tls_cert, settings.submission_tls_key or None)
    return context


def _pending(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """aiosmtpd's (synchronous) authenticator: pass the credentials on for the async check."""
    return AuthResult(success=isinstance(auth_data, LoginPassword), auth_data=auth_data)


def _key(session: Session) -> dict[str, Any]:
    """The SMTP key the session authenticated with (MAIL, RCPT and DATA come only after AUTH)."""
    return cast(dict[str, Any], session.auth_data)


def _reply_text(error: AppError) -> str:
    details = error.details if isinstance(error.details, list) else []
    text = (
        "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
        or error.message
    )
    return " ".join(text.split())[:300]


@dataclass
class SubmissionHandler:
    """aiosmtpd handler: limits per key at MAIL, recipients at RCPT, the ledger row at DATA."""

    container: Container
    key_limits: ClientLimits
    group: submission.GroupCommit | None = None  # made on the server's loop

    def __post_init__(self):
        self.group = submission.GroupCommit(self.container.db, self.container.settings)

    async def handle_EHLO(
        self, server, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ):
        """aiosmtpd reads commands one after another from its stream, so a client may pipeline
        them (RFC 2920): MAIL, RCPT and DATA in one write, and the next message's commands right
        after the end of the previous one's data. Each reply still comes in order."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session: Session, envelope: Envelope, address: str, options):
        if not self.key_limits.take_message(_key(session)["id"]):
            return TOO_MANY_MESSAGES
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(self, server, session: Session, envelope: Envelope, address: str, options):
        if key_of(address) in {key_of(seen) for seen in envelope.rcpt_tos}:
            return "250 OK"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        try:
            email_id = await submission.submit(
                self.container.db,
                self.container.settings,
                _key(session)["project_id"],
                mail_from=envelope.mail_from or "",
                rcpts=list(envelope.rcpt_tos),
                raw=message_bytes(envelope),
                group=self.group,
            )
        except InvalidOperation as error:
            return f"550 5.7.1 {_reply_text(error)}"
        except AppError as error:
            return f"554 5.6.0 {_reply_text(error)}"
        except Exception:
            log.exception("queueing a submitted message failed")
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 OK queued as {email_id}"


class SubmissionSMTP(LimitedSMTP):
    """aiosmtpd's SMTP with SMTP-key AUTH (checked against the database) and per-key limits."""

    def __init__(self, handler: SubmissionHandler, *, limits: ClientLimits, **kwargs):
        super().__init__(
            handler,
            limits=limits,
            authenticator=_pending,
            auth_required=True,
            auth_require_tls=True,
            **kwargs,
        )
        self.credential: str | None = None
        self._held = bytearray()  # replies not yet written (push)

    async def push(self, status: str | bytes) -> None:
        """aiosmtpd's push, except that single-line 250 and 354 replies are held until the end of the
        event loop's turn, so the replies to pipelined commands (the previous message's 250, then
        MAIL, RCPT and DATA) go out in one write and one TLS record instead of four. Any other reply
        (some are followed by closing the connection) goes out at once, after the held ones."""
        if isinstance(status, str):
            status = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        first = not self._held
        self._held += status + b"\r\n"
        if status[:4] in HELD_REPLIES:
            if first:
                self.loop.call_soon(self._write_held)
            return
        self._write_held()
        await self._writer.drain()

    def _write_held(self) -> None:
        if self._held and self.transport is not None and not self.transport.is_closing():
            self._writer.write(bytes(self._held))
        self._held.clear()

    def connection_made(self, transport) -> None:
        first = self.transport is None and self.client_ip is None
        super().connection_made(transport)
        if first and self.client_ip is not None:
            local = transport.get_extra_info("sockname")
            implicit_tls = transport.get_extra_info("ssl_object") is not None  # the SMTPS port
            self._auth_require_tls = not implicit_tls and auth_needs_tls(
                local[0] if local else None, self.client_ip
            )

    def connection_lost(self, error) -> None:
        if self.credential is not None:
            self.event_handler.key_limits.close(self.credential)
            self.credential = None
        super().connection_lost(error)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """A plain `<local@domain>` path is read with one regular expression; anything else goes
        through aiosmtpd's RFC 5322 parser (which took a tenth of the server's time per message)."""
        plain = _PLAIN_PATH.match(arg)
        if plain is None or self.local_part_limit:
            return super()._getaddr(arg)
        return plain[1], arg[plain.end() :].lstrip()

    async def auth_PLAIN(self, _, args):
        return await self._verified(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _, args):
        return await self._verified(await super().auth_LOGIN(_, args))

    async def _verified(self, result: AuthResult) -> AuthResult:
        if not result.success:
            return result
        try:
            key = await smtp_keys.authenticate(
                self.event_handler.container.db,
                cast(LoginPassword, result.auth_data).password.decode("utf-8", "replace"),
            )
        except Exception:
            log.exception("checking an SMTP key failed")
            return AuthResult(
                success=False, handled=False, message="454 4.7.0 Temporary authentication failure"
            )
        if key is None:
            return AuthResult(success=False, handled=False)
        if not self.event_handler.key_limits.open(key["id"]):
            return AuthResult(success=False, handled=False, message=TOO_MANY_KEY_CONNECTIONS)
        self.credential = key["id"]
        return AuthResult(success=True, auth_data=key)


@asynccontextmanager
async def submission_part(
    container,
    listen: str | None = None,
    *,
    implicit_tls: str | None = None,
    key_limits: ClientLimits | None = None,
):
    """The submission server listening on `listen` (STARTTLS; default: the setting) and, when
    `implicit_tls` or SENDHOUSE_SUBMISSION_SMTPS names host:port, with implicit TLS there too."""
    settings = container.settings
    handler = SubmissionHandler(
        container,
        key_limits
        or ClientLimits(
            max_connections=settings.submission_connections, messages_per_minute=settings.submission_rate
        ),
    )
    ip_limits, context = (
        ClientLimits(max_connections=CONNECTIONS_PER_IP, messages_per_minute=0),
        tls_context(settings),
    )
    if context is None:
        log.warning("no SENDHOUSE_SUBMISSION_TLS_CERT: AUTH is accepted only over loopback connections")

    def protocol() -> SubmissionSMTP:
        return SubmissionSMTP(
            handler,
            limits=ip_limits,
            tls_context=context,
            data_size_limit=MAX_MESSAGE_BYTES,
            hostname=settings.resolved_bounce_domain(),
            timeout=300,
        )

    servers = [await _listen(protocol, listen or settings.submission_smtp, None)]
    if (implicit_tls or settings.submission_smtps) and context is not None:
        servers.append(await _listen(protocol, implicit_tls or settings.submission_smtps, context))
    try:
        yield servers[0]
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


async def _listen(protocol, listen: str, context: ssl.SSLContext | None):
    host, port = parse_listen(
        listen, "SENDHOUSE_SUBMISSION_SMTPS" if context else "SENDHOUSE_SUBMISSION_SMTP"
    )
    server = await asyncio.get_running_loop().create_server(protocol, host=host, port=port, ssl=context)
    log.info("SMTP submission server listening on %s:%d%s", host, port, " (implicit TLS)" if context else "")
    return server


@asynccontextmanager
async def switched_off():
    """The part when SENDHOUSE_SUBMISSION_SMTP is empty: nothing listens."""
    yield None


def submission_duty(container):
    """The background duty of `serve` (any role): the server when the setting names host:port."""
    return submission_part(container) if container.settings.submission_smtp else switched_off()
