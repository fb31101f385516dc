"""Signed tokens in tracking, unsubscribe and VERP addresses, and the URL paths that carry them.

A web token is ``base64url(payload) "." base64url(mac)``; an address token (VERP bounce and mailto
unsubscribe local parts) is hex, so it survives MTAs that fold the case of local parts.
Each kind has its own key derived from the secret (HMAC-SHA256, truncated), and the kind is part of
what is signed, so a token of one kind never verifies as another. Verification returns the payload
or None: tampered, truncated, foreign or malformed tokens are all None, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

OPEN_PATH = "/t/o/"
CLICK_PATH = "/t/c/"
UNSUBSCRIBE_PATH = "/u/"
PREFERENCE_PATH = "/u/p/"
BOUNCE_LOCAL_PREFIX = "bounces+"
UNSUBSCRIBE_LOCAL_PREFIX = "unsubscribe+"

_WEB_MAC = 16
_ADDRESS_MAC = 10
_SEP = b"\x00"
_HEX_TAG = b"\x01"
_TEXT_TAG = b"\x02"
_ID_TAG = b"\x03"
_ID_BYTES = 12
SEPARATOR = _SEP
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_HEX_RE = re.compile(r"(?:[0-9a-f]{2})+")


@dataclass(frozen=True)
class ClickTarget:
    """What a click token carries: the message row and the exact URL signed into it."""

    message_id: str
    url: str


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What unsubscribe and preference tokens carry."""

    project_id: str
    email: str
    group: str | None
    message_id: str


@lru_cache(maxsize=64)
def _key(secret: str, kind: str) -> bytes:
    return hmac.digest(secret.encode(), b"sendhouse-token/" + kind.encode(), "sha256")


def _mac(secret: str, kind: str, payload: bytes, size: int) -> bytes:
    return hmac.digest(_key(secret, kind), payload, "sha256")[:size]


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pack(fields: tuple[str, ...]) -> bytes:
    parts = [_pack_field(field) for field in fields]
    return _SEP.join(parts)


def _pack_field(field: str) -> bytes:
    """Our 24-hex ids pack to a tag and their 12 bytes; other lower-hex text of even length packs to
    half its size when no byte of it is the separator; any other text is marked and kept as UTF-8."""
    if _HEX_RE.fullmatch(field):
        raw = bytes.fromhex(field)
        if len(raw) == _ID_BYTES:
            return _ID_TAG + raw
        if _SEP not in raw:
            return _HEX_TAG + raw
    if "\x00" in field:
        raise ValueError("token fields cannot contain NUL")
    return _TEXT_TAG + field.encode()


def _unpack(payload: bytes) -> tuple[str, ...] | None:
    """The fields of a packed payload; an id field is exactly 12 bytes long, whatever bytes it holds."""
    fields: list[str] = []
    start = 0
    while True:
        tag, body_start = payload[start : start + 1], start + 1
        end = body_start + _ID_BYTES if tag == _ID_TAG else payload.find(_SEP, body_start)
        end = len(payload) if end == -1 else end
        field = _unpack_field(tag, payload[body_start:end])
        if field is None or end > len(payload):
            return None
        fields.append(field)
        if end == len(payload):
            return tuple(fields)
        if payload[end : end + 1] != _SEP:
            return None
        start = end + 1


def _unpack_field(tag: bytes, body: bytes) -> str | None:
    if tag in (_ID_TAG, _HEX_TAG):
        return body.hex()
    return body.decode() if tag == _TEXT_TAG else None


def sign_web(secret: str, kind: str, fields: tuple[str, ...]) -> str:
    """A URL-safe token for `fields`, bound to `kind`."""
    return sign_packed(web_key(secret, kind), _pack(fields))


def web_key(secret: str, kind: str) -> bytes:
    """The key of one token kind (for builders that sign many tokens with `sign_packed`)."""
    return _key(secret, kind)


def pack(fields: tuple[str, ...]) -> bytes:
    """The signed payload of `fields` (`pack((a, b)) == pack((a,)) + SEPARATOR + pack((b,))`)."""
    return _pack(fields)


def sign_packed(key: bytes, payload: bytes) -> str:
    """The web token of an already packed payload under a `web_key`."""
    return _b64(payload) + "." + _b64(hmac.digest(key, payload, "sha256")[:_WEB_MAC])


def verify_web(secret: str, kind: str, token: str, arity: int) -> tuple[str, ...] | None:
    """The fields of a genuine `kind` token with `arity` fields, else None.

    The token must be exactly the canonical encoding (no padding, no stray characters, no spare bits).
    """
    try:
        payload = _unb64(token.partition(".")[0])
        expected = _b64(payload) + "." + _b64(_mac(secret, kind, payload, _WEB_MAC))
        if not hmac.compare_digest(expected.encode(), token.encode()):
            return None
        fields = _unpack(payload)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        return None
    return fields if fields is not None and len(fields) == arity else None


def sign_open(secret: str, message_id: str) -> str:
    """Token of the open pixel of one message row."""
    return sign_web(secret, "open", (message_id,))


def verify_open(secret: str, token: str) -> str | None:
    """The message row id of a genuine open token."""
    fields = verify_web(secret, "open", token, 1)
    return fields[0] if fields else None


def sign_click(secret: str, message_id: str, url: str) -> str:
    """Token of one tracked link: the row and the exact URL it may redirect to."""
    return sign_web(secret, "click", (message_id, url))


def verify_click(secret: str, token: str) -> ClickTarget | None:
    """The row and URL of a genuine click token (redirect only ever to this URL)."""
    fields = verify_web(secret, "click", token, 2)
    return ClickTarget(*fields) if fields else None


def sign_unsubscribe(secret: str, target: UnsubscribeTarget) -> str:
    """Token of the one-click unsubscribe link."""
    return sign_web(secret, "unsubscribe", _unsubscribe_fields(target))


def verify_unsubscribe(secret: str, token: str) -> UnsubscribeTarget | None:
    """The target of a genuine unsubscribe token."""
    return _unsubscribe_target(verify_web(secret, "unsubscribe", token, 4))


def sign_preference(secret: str, target: UnsubscribeTarget) -> str:
    """Token of the hosted preference page."""
    return sign_web(secret, "preference", _unsubscribe_fields(target))


def verify_preference(secret: str, token: str) -> UnsubscribeTarget | None:
    """The target of a genuine preference-page token."""
    return _unsubscribe_target(verify_web(secret, "preference", token, 4))


def _unsubscribe_fields(target: UnsubscribeTarget) -> tuple[str, ...]:
    return (target.project_id, target.email, target.group or "", target.message_id)


def _unsubscribe_target(fields: tuple[str, ...] | None) -> UnsubscribeTarget | None:
    if not fields:
        return None
    project_id, email, group, message_id = fields
    return UnsubscribeTarget(project_id, email, group or None, message_id)


def sign_address(secret: str, kind: str, message_id: str) -> str:
    """A short lower-case hex token naming one message row, for the local part of an address."""
    payload = _pack((message_id,))
    return (payload + _mac(secret, "address-" + kind, payload, _ADDRESS_MAC)).hex()


def verify_address(secret: str, kind: str, token: str) -> str | None:
    """The message row id of a genuine address token (any letter case)."""
    try:
        raw = bytes.fromhex(token)
        payload, mac = raw[:-_ADDRESS_MAC], raw[-_ADDRESS_MAC:]
        if len(raw) <= _ADDRESS_MAC or not hmac.compare_digest(
            mac, _mac(secret, "address-" + kind, payload, _ADDRESS_MAC)
        ):
            return None
        fields = _unpack(payload)
    except (ValueError, UnicodeError):
        return None
    return fields[0] if fields and len(fields) == 1 else None


def bounce_address(secret: str, message_id: str, bounce_domain: str) -> str:
    """The VERP return path of one message row: bounces+<token>@<bounce_domain>."""
    return f"{BOUNCE_LOCAL_PREFIX}{sign_address(secret, 'bounce', message_id)}@{bounce_domain}"


def unsubscribe_address(secret: str, message_id: str, bounce_domain: str) -> str:
    """The mailto unsubscribe address of one message row: unsubscribe+<token>@<bounce_domain>."""
    return f"{UNSUBSCRIBE_LOCAL_PREFIX}{sign_address(secret, 'unsubscribe', message_id)}@{bounce_domain}"


def parse_local_part(secret: str, local_part: str) -> tuple[str, str] | None:
    """("bounce"|"unsubscribe", message row id) for a genuine VERP local part, else None."""
    lowered = local_part.lower()
    for prefix, kind in ((BOUNCE_LOCAL_PREFIX, "bounce"), (UNSUBSCRIBE_LOCAL_PREFIX, "unsubscribe")):
        if lowered.startswith(prefix):
            message_id = verify_address(secret, kind, local_part[len(prefix) :])
            return (kind, message_id) if message_id else None
    return None
