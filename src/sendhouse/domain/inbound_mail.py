"""Pure rules of received mail: parsing a message once (stdlib `email`, RFC 5322 + MIME, the
modern `policy.default`), the Message-IDs it refers to for threading, and the inbound statuses.

Bodies are kept up to MAX_BODY_CHARS (the raw message stays authoritative); attachments keep
their decoded bytes exactly. Parsing never raises for a malformed message: the caller stores
such a message as FAILED with its raw bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

PROCESSED, PROCESSING, FAILED = "PROCESSED", "PROCESSING", "FAILED"
BLOCKED_UNVERIFIED, BLOCKED_UNROUTED = "BLOCKED_UNVERIFIED", "BLOCKED_UNROUTED"
STATUSES = (PROCESSED, PROCESSING, FAILED, BLOCKED_UNVERIFIED, BLOCKED_UNROUTED)
BLOCKED = (BLOCKED_UNVERIFIED, BLOCKED_UNROUTED)
MAX_BODY_CHARS = 512 * 1024
MAX_HEADER_CHARS = 8192
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ADDR = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_MAILBOX = re.compile(
    rf"(?P<bare>{_ADDR})|(?P<name>[A-Za-z0-9]+(?: [A-Za-z0-9]+)*) <(?P<email>{_ADDR})>"
)


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    content: bytes


@dataclass
class ParsedMail:
    """What the inbox shows of one message."""

    message_id: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    addresses: dict = field(default_factory=lambda: {"to": [], "cc": [], "bcc": [], "replyTo": []})
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: dict = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)

    @property
    def from_domain(self) -> str:
        return (self.from_email or "").rpartition("@")[2].lower()

    def thread_refs(self) -> list[str]:
        """Message-IDs this message answers, the direct parent first."""
        direct = _MESSAGE_ID.findall(self.in_reply_to or "")
        return direct + [ref for ref in reversed(self.references) if ref not in direct]


def mailboxes(values: list[str]) -> list[dict]:
    """[{email, name|None}] of address header values (groups flattened, empty entries dropped).
    One plain `Name <local@domain>` or `local@domain` is read with a pattern (what getaddresses
    gives for it, property-tested); anything else goes through getaddresses."""
    plain = _PLAIN_MAILBOX.fullmatch(values[0]) if len(values) == 1 else None
    if plain is not None:
        return [{"email": plain["bare"] or plain["email"], "name": plain["name"]}]
    if not values:
        return []
    return [{"email": email, "name": name or None} for name, email in getaddresses(values) if "@" in email]


def parse_references(value: str) -> list[str]:
    """The Message-IDs in a References (or In-Reply-To) header, in order."""
    return _MESSAGE_ID.findall(value or "")


def parse(raw: bytes) -> ParsedMail:
    """Parse a whole message; never raises (a broken header leaves that field empty)."""
    message = _message(raw)
    parsed = ParsedMail(headers=_headers(message))
    read = _read_headers(message)
    sender = mailboxes(read.get("from", [""])[:1])
    if sender:
        parsed.from_email, parsed.from_name = sender[0]["email"], sender[0]["name"]
    for key, name in (("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("replyTo", "reply-to")):
        parsed.addresses[key] = mailboxes(read.get(name, []))
    first = {name: values[0] for name, values in read.items()}
    parsed.subject = first.get("subject", "")
    found = _MESSAGE_ID.findall(first.get("message-id", ""))
    parsed.message_id = found[0] if found else None
    parsed.in_reply_to = first.get("in-reply-to") or None
    parsed.references = _MESSAGE_ID.findall(first.get("references", ""))
    parsed.text, parsed.html, parsed.attachments = _bodies(message)
    return parsed


def _message(raw: bytes) -> EmailMessage:
    """The message as BytesParser with policy.default reads it. A single-part message's header
    block is parsed alone and its body set as the parser would (the whole rest, undecoded): the
    parser's line-by-line reading of the body was most of the parse. Anything else (multipart or
    message/* content, a header block the parser would end early or find defects in) is parsed whole."""
    end = raw.find(b"\r\n\r\n") + 4
    if end >= 4:
        head = BytesParser(policy=policy.default).parsebytes(raw[:end])
        if head.get_content_maintype() not in ("multipart", "message") and _clean(head):
            head.set_payload(raw[end:].decode("ascii", "surrogateescape"))
            return head
    return BytesParser(policy=policy.default).parsebytes(raw)


def _clean(head: EmailMessage) -> bool:
    """Whether the parser read the whole header block as headers (nothing left for a body)."""
    return not head.defects and head.get_payload() == ""


_READ = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "subject", "message-id", "in-reply-to", "references"}
)
_LINE_BREAK = re.compile(r"[\r\n]")


def _read_headers(message: EmailMessage) -> dict[str, list[str]]:
    """Decoded values of the headers parse() reads, by lower-case name, in order ("" when
    undecodable). A plain ASCII value without encoded words is only unfolded, as the policy would;
    only the others go through the policy's header classes (the slow part of parsing)."""
    found: dict[str, list[str]] = {}
    for name, raw in message.raw_items():
        key = name.lower()
        if key in _READ:
            plain = isinstance(raw, str) and raw.isascii() and "=?" not in raw
            value = (
                _LINE_BREAK.sub("", raw) if plain else _decoded(message.policy.header_fetch_parse(name, raw))
            )
            found.setdefault(key, []).append(value[:MAX_HEADER_CHARS])
    return found


def _headers(message: EmailMessage) -> dict[str, str]:
    """Lower-case name → value; repeated headers joined by newlines, in order."""
    found: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        found.setdefault(name.lower(), []).append(_decoded(value))
    return {name: "\n".join(values)[:MAX_HEADER_CHARS] for name, values in found.items()}


def _decoded(value) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a header the policy cannot decode
        return ""


def _bodies(message: EmailMessage) -> tuple[str | None, str | None, list[Attachment]]:
    text_part, html_part = _body(message, "plain"), _body(message, "html")
    attachments = [
        _attachment(part)
        for part in message.walk()
        if not part.is_multipart()
        and part is not text_part
        and part is not html_part
        and _is_attachment(part)
    ]
    return _content(text_part), _content(html_part), attachments


def _body(message: EmailMessage, kind: str):
    try:
        return message.get_body(preferencelist=(kind,))
    except Exception:  # noqa: BLE001 - a broken MIME structure: no body
        return None


def _is_attachment(part) -> bool:
    return (
        part.get_content_disposition() in ("attachment", "inline")
        or part.get_content_maintype() != "text"
        or bool(part.get_filename())
    )


def _attachment(part) -> Attachment:
    content = part.get_payload(decode=True) or b""
    return Attachment(filename=part.get_filename(), content_type=part.get_content_type(), content=content)


def _content(part) -> str | None:
    if part is None:
        return None
    try:
        return part.get_content()[:MAX_BODY_CHARS]
    except Exception:  # noqa: BLE001 - an unknown charset: decode leniently
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")[:MAX_BODY_CHARS]
