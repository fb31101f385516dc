"""SMTP envelope addresses as the bytes to write after `MAIL FROM:` and `RCPT TO:`.

- Plain ASCII addresses go out as they are.
- When the relay offers SMTPUTF8 (RFC 6531), internationalised addresses go out in UTF-8 and the
  transaction's MAIL FROM carries the SMTPUTF8 parameter (only when an address needs it).
- Otherwise a non-ASCII domain is IDNA-encoded (IDNA 2008 with UTS #46 mapping, `idna` package:
  `kunde@bücher.example` → `kunde@xn--bcher-kva.example`), and a non-ASCII local part cannot be
  expressed at all: UnsendableAddress, which the transport turns into a permanent failure of that
  one message without an SMTP code (so nothing is suppressed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import idna

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>]")


class UnsendableAddress(ValueError):
    """An address this relay cannot be given (the message fails; the address is not suppressed)."""


@dataclass(frozen=True)
class Envelope:
    """The encoded sender and recipients, and whether MAIL FROM needs the SMTPUTF8 parameter."""

    mail_from: bytes
    rcpt_to: tuple[bytes, ...]
    utf8: bool

    def mail_line(self) -> bytes:
        return b"MAIL FROM:<" + self.mail_from + (b"> SMTPUTF8\r\n" if self.utf8 else b">\r\n")

    def rcpt_lines(self) -> list[bytes]:
        return [b"RCPT TO:<" + address + b">\r\n" for address in self.rcpt_to]


def encode_envelope(mail_from: str, rcpt_to: tuple[str, ...], *, smtputf8: bool) -> Envelope:
    """The envelope for a relay with (smtputf8=True) or without SMTPUTF8; UnsendableAddress if impossible."""
    sender = encode_address(mail_from, smtputf8=smtputf8, sender=True)
    recipients = tuple(encode_address(address, smtputf8=smtputf8) for address in rcpt_to)
    return Envelope(sender, recipients, utf8=not all(a.isascii() for a in (sender, *recipients)))


def encode_address(address: str, *, smtputf8: bool, sender: bool = False) -> bytes:
    """One address as envelope bytes (the empty reverse path `<>` is allowed for the sender)."""
    if address == "" and sender:
        return b""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or _FORBIDDEN.search(address):
        raise UnsendableAddress(f"{address!r} is not an address the relay can be given")
    if address.isascii():
        return address.encode("ascii")
    if smtputf8:
        return address.encode("utf-8")
    if not local.isascii():
        raise UnsendableAddress(
            f"the local part of {address!r} is not ASCII and the relay does not offer SMTPUTF8"
        )
    return local.encode("ascii") + b"@" + _idna(domain, address)


def _idna(domain: str, address: str) -> bytes:
    try:
        return idna.encode(domain, uts46=True)
    except idna.IDNAError as error:
        raise UnsendableAddress(f"the domain of {address!r} cannot be IDNA-encoded: {error}") from None
