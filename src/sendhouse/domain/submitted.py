"""A message submitted over SMTP, turned into a `/mails/send` request (pure rules).

Recipients come from the envelope: those in the To header stay `to`, those in Cc stay `cc`, the
others are `bcc` (when no envelope recipient is in To, the first becomes `to`). From, Reply-To,
Subject, the text and HTML bodies, attachments and custom `X-` headers are kept; the app's
Message-ID is kept when it is well formed. The transactional pipeline then applies suppressions,
tracking, DKIM and the verified-domain rule as for any API send.
"""

from __future__ import annotations

import base64
import re

from sendhouse.domain import mails as mail_rules
from sendhouse.domain.emails import key_of
from sendhouse.domain.inbound_mail import ParsedMail

_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")


def kept_message_id(parsed: ParsedMail) -> str | None:
    value = parsed.message_id or ""
    return value if len(value) <= 255 and _MESSAGE_ID.fullmatch(value) else None


def _recipients(parsed: ParsedMail, rcpts: list[str]) -> tuple[list[dict], list[dict], list[dict]]:
    names = {key_of(a["email"]): a.get("name") for key in ("to", "cc") for a in parsed.addresses[key]}
    visible = {key: {key_of(a["email"]) for a in parsed.addresses[key]} for key in ("to", "cc")}
    to: list[dict] = []
    cc: list[dict] = []
    bcc: list[dict] = []
    for rcpt in dict.fromkeys(key_of(r) for r in rcpts):
        entry = {"email": rcpt, "name": names.get(rcpt)}
        (to if rcpt in visible["to"] else cc if rcpt in visible["cc"] else bcc).append(entry)
    if not to and bcc:
        to.append(bcc.pop(0))
    return to, cc, bcc


def _headers(parsed: ParsedMail) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in parsed.headers.items():
        if (
            name.startswith("x-")
            and "\n" not in value
            and len(found) < mail_rules.MAX_HEADERS
            and mail_rules.HEADER_NAME.match(name)
            and len(value) <= mail_rules.MAX_HEADER_VALUE
        ):
            found["-".join(part.capitalize() for part in name.split("-"))] = value
    return found


def send_request(parsed: ParsedMail, mail_from: str, rcpts: list[str]) -> dict:
    """The body of an equivalent POST /v1/mails/send."""
    to, cc, bcc = _recipients(parsed, rcpts)
    sender = {"email": parsed.from_email or mail_from, "name": parsed.from_name}
    body = {
        "from": sender,
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "subject": parsed.subject or "(no subject)",
        "html": parsed.html,
        "text": parsed.text,
        "headers": _headers(parsed),
        "attachments": [
            {
                "fileName": a.filename or f"attachment-{i + 1}",
                "contentType": a.content_type,
                "content": base64.b64encode(a.content).decode("ascii"),
            }
            for i, a in enumerate(parsed.attachments)
        ],
    }
    if parsed.addresses["replyTo"]:
        body["replyTo"] = parsed.addresses["replyTo"][0]
    if not body["html"] and not body["text"]:
        body["text"] = " "
    return body
