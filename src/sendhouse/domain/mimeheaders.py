"""RFC 5322 / RFC 2047 / RFC 2231 header encoding for the message builder.

Free text becomes folded ASCII or base64 encoded words; mailboxes get a quoted or encoded display
name; attachment names get RFC 2231 parameters. Control characters (CR and LF above all) become
spaces first, so no value can ever start a header field of its own.
"""

from __future__ import annotations

import binascii
import re

import idna

from sendhouse.errors import InvalidInput

_ADDRESS_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[^\s<>(),;:\"\[\]\\@]+")
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9-]{1,76}")
_PHRASE_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]*")
# Headers the builder writes itself (a second copy would make a defective or ambiguous message).
# "Cc" is not here: the transactional service passes the visible Cc list as a custom header.
RESERVED_HEADERS = frozenset(
    [
        "from",
        "to",
        "bcc",
        "subject",
        "date",
        "message-id",
        "return-path",
        "sender",
        "reply-to",
        "dkim-signature",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ]
)
_CONTROL = dict.fromkeys((*range(32), 127), " ")


def unstructured(name: str, value: str) -> str:
    """A header line for free text: folded ASCII, or RFC 2047 encoded words; never more than one field."""
    value = value.translate(_CONTROL) if not value.isprintable() else value
    if value.isascii() and "=?" not in value and len(name) + len(value) < 76:
        return f"{name}: {value}\r\n"
    if value.isascii() and "=?" not in value and max(map(len, value.split(" "))) < 900:
        return f"{name}: {_fold_ascii(value, len(name) + 2)}\r\n"
    return f"{name}: {encode_words(value)}\r\n"


def _fold_ascii(value: str, used: int) -> str:
    lines, current = [], ""
    for index, word in enumerate(value.split(" ")):
        if index == 0:
            current = word
        elif word and used + len(current) + 1 + len(word) > 78 and current.strip():
            lines.append(current)
            current, used = " " + word, 0
        else:
            current += " " + word
    lines.append(current)
    return "\r\n".join(lines)


def encode_words(value: str) -> str:
    """RFC 2047 base64 encoded words of at most 45 UTF-8 bytes each (never splitting a character)."""
    words, chunk = [], b""
    for char in value:
        raw = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(raw) > 45:
            words.append(chunk)
            chunk = b""
        chunk += raw
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{binascii.b2a_base64(w, newline=False).decode()}?=" for w in words)


def mailbox(name: str | None, address: str, *, field: str) -> str:
    """`Name <local@domain>` with the name quoted or encoded as needed; InvalidInput for a bad address."""
    address = _ascii_address(address, field)
    if not name:
        return address
    name = (name if name.isprintable() else name.translate(_CONTROL)).strip()
    if not name:
        return address
    if name.isascii() and "=?" not in name:
        phrase = name if _PHRASE_RE.fullmatch(name) and "." not in name else _quoted(name)
    else:
        phrase = encode_words(name)
    return f"{phrase} <{address}>"


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ascii_address(address: str, field: str) -> str:
    if not isinstance(address, str) or not _ADDRESS_RE.fullmatch(address):
        raise InvalidInput.field(field, "must be an email address")
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:  # the same IDNA 2008 + UTS #46 encoding as the SMTP envelope (delivery.envelope)
        return f"{local}@{idna.encode(domain, uts46=True).decode()}"
    except (idna.IDNAError, UnicodeError):
        raise InvalidInput.field(field, "has a domain that cannot be encoded") from None


def custom_header(name: str, value: str) -> str:
    """One custom header line; InvalidInput for a name that is not a plain token."""
    if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
        raise InvalidInput.field(f"headers.{name}", "header names are letters, digits and '-' (1-76)")
    if name.lower() in RESERVED_HEADERS:
        raise InvalidInput.field(f"headers.{name}", "is set by Sendhouse and cannot be given")
    return unstructured(name, str(value))


def filename_param(param: str, filename: str) -> str:
    """`name="x.pdf"`, or RFC 2231 `name*=utf-8''…` for anything beyond plain printable ASCII."""
    clean = filename.translate(_CONTROL).strip() or "attachment"
    if clean.isascii() and '"' not in clean and "\\" not in clean:
        return f'{param}="{clean}"'
    quoted = "".join(c if c.isascii() and (c.isalnum() or c in "!#$&+-.^_`|~") else _pct(c) for c in clean)
    return f"{param}*=utf-8''{quoted}"


def _pct(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode())
