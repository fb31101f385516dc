"""DKIM signing (RFC 6376: rsa-sha256, relaxed/relaxed) with `cryptography`, and key generation.

`DkimSigner(domain, selector, private_key_pem).sign(message)` returns the `DKIM-Signature:` header
field (CRLF-terminated bytes) to put in front of `message`; `sign_message` returns both joined.
The canonicalisation is done here (dkimpy's pure-Python RSA signs ~175 messages/s; OpenSSL through
`cryptography` thousands); tests verify every signature with dkimpy.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sendhouse.errors import InvalidInput

SIGNED_HEADERS = ("from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post")
_WSP_RUN = re.compile(rb"[ \t]+")
_SPACE_RUN = re.compile(rb"  +")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class DkimSigner:
    """Signs messages for one domain and selector with an RSA private key (PEM)."""

    def __init__(self, domain: str, selector: str, private_key_pem: str | bytes):
        self.domain = _dns_name(domain, "domain")
        self.selector = _dns_name(selector, "selector")
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):
            raise InvalidInput.field("privateKey", "is not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
            raise InvalidInput.field("privateKey", "must be an RSA key of at least 1024 bits")
        self._key = key

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature header field (ending in CRLF) for a CRLF message."""
        header_block, body = split_message(message)
        fields = _select(header_fields(header_block))
        names = ":".join(name for name, _ in fields)
        head = (
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
            f" t={int(time.time()) if timestamp is None else timestamp}; h={names};\r\n"
            f" bh={base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()};\r\n b="
        ).encode()
        signed = b"".join(relaxed_header(raw) + b"\r\n" for _, raw in fields) + relaxed_header(head)
        signature = base64.b64encode(self._key.sign(signed, padding.PKCS1v15(), hashes.SHA256()))
        return head + b"\r\n ".join(signature[i : i + 72] for i in range(0, len(signature), 72)) + b"\r\n"

    def sign_message(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The message with its DKIM-Signature header in front."""
        return self.sign(message, timestamp=timestamp) + message


def split_message(message: bytes) -> tuple[bytes, bytes]:
    """(header block with its final CRLF, body) of a CRLF message."""
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message, b""
    return message[: end + 2], message[end + 4 :]


def header_fields(block: bytes) -> list[tuple[str, bytes]]:
    """(lower-case name, raw field without its final CRLF) for each field, continuation lines kept."""
    fields: list[tuple[str, bytes]] = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
        elif line:
            fields.append((line.split(b":", 1)[0].strip().lower().decode("ascii", "replace"), line))
    return fields


def _select(fields: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The last instance of each signed header present, in SIGNED_HEADERS order."""
    last = dict(fields)
    return [(name, last[name]) for name in SIGNED_HEADERS if name in last]


def relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, unfolded value, WSP runs as one space, no WSP at the ends."""
    name, _, value = raw.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.strip(b" \t").lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: WSP runs as one space, none before CRLF, no empty lines at the end (as dkimpy)."""
    if b"\t" in body:
        body = body.replace(b"\t", b" ")
    if b"  " in body:
        body = _SPACE_RUN.sub(b" ", body)
    if b" \r\n" in body:
        body = body.replace(b" \r\n", b"\r\n")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body[:end] + b"\r\n" if end else b""


def generate_dkim_keypair() -> tuple[str, str]:
    """A new RSA-2048 key: (private key PEM, public key as base64 DER SubjectPublicKeyInfo)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()


def dkim_dns_value(public_b64: str) -> str:
    """The TXT record value to publish for a public key."""
    return f"v=DKIM1; k=rsa; p={public_b64}"


def dkim_dns_name(selector: str, domain: str) -> str:
    """Where the TXT record goes: <selector>._domainkey.<domain>."""
    return f"{selector}._domainkey.{domain}"


def _dns_name(value: str, field: str) -> str:
    labels = value.split(".") if isinstance(value, str) else []
    if not labels or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput.field(field, "must be a DNS name")
    return value.lower()
