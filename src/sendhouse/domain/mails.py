"""Rules of a transactional mail request (AutoSend `/mails/send` and `/mails/bulk`), pure code.

`check_send` / `check_bulk` take the request body as a plain dict (camelCase, as received),
collect every broken rule into one `InvalidInput` (details `[{field, message}]`) and return a
normalized copy: addresses validated and normalized, `to`/`cc`/`bcc` as lists, attachment
content checked as base64. Limits are AutoSend's (reference §3.1, §3.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from sendhouse.domain import emails
from sendhouse.errors import InvalidInput

MAX_SUBJECT = 998
MAX_HTML_BYTES = 4 * 1024 * 1024
MAX_EMAIL_BYTES = 40 * 1024 * 1024
MAX_RECIPIENTS = 50  # to + cc + bcc of one email
MAX_BULK_RECIPIENTS = 100
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1000
MAX_ATTACHMENTS = 20
MAX_NAME = 200
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,76}$")

RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "Return-Path",
        "Sender",
        "Reply-To",
        "Received",
        "DKIM-Signature",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "X-SES-Configuration-Set",
        "X-SES-Message-Tags",
    )
)

# The list AutoSend's attachment section carries (read as a block list, like its Python SDK).
BLOCKED_EXTENSIONS = frozenset(
    [
        ".adp",
        ".app",
        ".asp",
        ".bas",
        ".bat",
        ".cer",
        ".chm",
        ".cmd",
        ".com",
        ".cpl",
        ".crt",
        ".csh",
        ".der",
        ".exe",
        ".fxp",
        ".gadget",
        ".hlp",
        ".hta",
        ".inf",
        ".ins",
        ".isp",
        ".its",
        ".jar",
        ".js",
        ".jse",
        ".ksh",
        ".lib",
        ".lnk",
        ".mad",
        ".maf",
        ".mag",
        ".mam",
        ".maq",
        ".mar",
        ".mas",
        ".mat",
        ".mau",
        ".mav",
        ".maw",
        ".mda",
        ".mdb",
        ".mde",
        ".mdt",
        ".mdw",
        ".mdz",
        ".msc",
        ".msh",
        ".msh1",
        ".msh2",
        ".mshxml",
        ".msh1xml",
        ".msh2xml",
        ".msi",
        ".msp",
        ".mst",
        ".ops",
        ".pcd",
        ".pif",
        ".plg",
        ".prf",
        ".prg",
        ".ps1",
        ".ps1xml",
        ".ps2",
        ".ps2xml",
        ".psc1",
        ".psc2",
        ".reg",
        ".scf",
        ".scr",
        ".sct",
        ".sh",
        ".shb",
        ".shs",
        ".sys",
        ".tmp",
        ".url",
        ".vb",
        ".vbe",
        ".vbs",
        ".vps",
        ".vsmacros",
        ".vss",
        ".vst",
        ".vsw",
        ".vxd",
        ".ws",
        ".wsc",
        ".wsf",
        ".wsh",
        ".xnk",
    ]
)


class Problems:
    """Broken rules collected while checking one request; raised together at the end."""

    def __init__(self) -> None:
        self.details: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.details.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.details:
            raise InvalidInput("Validation failed", details=self.details)


def normalized_email(value: Any, field: str, problems: Problems) -> str | None:
    """The normalized address (domain/emails.py), or None (with a problem noted) when it is not valid."""
    found, problem = emails.checked(value)
    if problem:
        problems.add(field, problem)
    return found


def address(value: Any, field: str, problems: Problems) -> dict | None:
    """An `{email, name}` object, normalized."""
    if not isinstance(value, dict):
        problems.add(field, "must be an object with an email")
        return None
    email = normalized_email(value.get("email"), f"{field}.email", problems)
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        problems.add(f"{field}.name", f"must be a string of at most {MAX_NAME} characters")
        return None
    return {"email": email, "name": name or None} if email else None


def address_list(value: Any, field: str, problems: Problems) -> list[dict]:
    """One address or a list of them (the Node SDK sends either), as a list."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    found = [
        address(item, f"{field}[{i}]" if isinstance(value, list) else field, problems)
        for i, item in enumerate(items)
    ]
    return [a for a in found if a]


def check_headers(headers: Any, problems: Problems) -> dict[str, str]:
    """Custom headers: at most 20, safe names, no reserved names, values ≤1000 characters on one line."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        problems.add("headers", "must be an object of header names to values")
        return {}
    if len(headers) > MAX_HEADERS:
        problems.add("headers", f"at most {MAX_HEADERS} headers are allowed")
    for name, value in headers.items():
        _check_header(name, value, problems)
    return dict(headers)


def _check_header(name: str, value: Any, problems: Problems) -> None:
    field = f"headers.{name}"
    if not HEADER_NAME.match(name):
        problems.add(field, "header names are 1 to 76 letters, digits or hyphens")
    elif name.lower() in RESERVED_HEADERS:
        problems.add(field, f"{name} is a reserved header and cannot be set")
    if not isinstance(value, str):
        problems.add(field, "header values must be strings")
    elif len(value) > MAX_HEADER_VALUE:
        problems.add(field, f"header values are at most {MAX_HEADER_VALUE} characters")
    elif "\r" in value or "\n" in value:
        problems.add(field, "header values cannot contain line breaks")


def blocked_extension(file_name: str) -> str | None:
    """The file's extension when it is on the block list, else None."""
    stem, dot, ext = file_name.rstrip(" .").rpartition(".")
    extension = f".{ext.lower()}" if dot and stem else ""
    return extension if extension in BLOCKED_EXTENSIONS else None


def check_attachments(attachments: Any, problems: Problems) -> list[dict]:
    """At most 20 files, each a permitted name with valid base64 content."""
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        problems.add("attachments", "must be a list")
        return []
    if len(attachments) > MAX_ATTACHMENTS:
        problems.add("attachments", f"at most {MAX_ATTACHMENTS} attachments are allowed")
    checked = [_check_attachment(a, f"attachments[{i}]", problems) for i, a in enumerate(attachments)]
    return [a for a in checked if a]


def _check_attachment(item: Any, field: str, problems: Problems) -> dict | None:
    if not isinstance(item, dict):
        problems.add(field, "must be an object")
        return None
    name, content = item.get("fileName"), item.get("content")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        problems.add(f"{field}.fileName", "is required (at most 255 characters)")
        return None
    if blocked := blocked_extension(name):
        problems.add(f"{field}.fileName", f"files of type {blocked} cannot be attached")
    if content is None:
        message = (
            "fileUrl is not supported; send the file as base64 content"
            if item.get("fileUrl")
            else "is required"
        )
        problems.add(f"{field}.content", message)
        return None
    if not is_base64(content):
        problems.add(f"{field}.content", "must be valid base64")
        return None
    return {
        "fileName": name,
        "content": "".join(content.split()),
        "contentType": item.get("contentType"),
        "description": item.get("description"),
        "contentId": item.get("contentId"),
    }


def is_base64(value: Any) -> bool:
    """Whether `value` is standard base64 (whitespace between lines allowed)."""
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_content(body: dict, problems: Problems) -> None:
    """Subject/html/text/templateId: either a template or a body; a subject unless a template."""
    subject, html, text, template = (body.get(k) for k in ("subject", "html", "text", "templateId"))
    if not template and not html and not text:
        problems.add("html", "Either templateId or html/text is required")
    if not template and not subject:
        problems.add("subject", "is required unless templateId is given")
    if isinstance(subject, str) and len(subject) > MAX_SUBJECT:
        problems.add("subject", f"at most {MAX_SUBJECT} characters")
    if isinstance(subject, str) and ("\r" in subject or "\n" in subject):
        problems.add("subject", "cannot contain line breaks")
    if isinstance(html, str) and len(html.encode()) > MAX_HTML_BYTES:
        problems.add("html", "HTML is at most 4 MB")


def email_size(body: dict, attachments: list[dict]) -> int:
    """Approximate bytes of the finished email: bodies, subject, headers and base64 attachments."""
    parts = [body.get("html") or "", body.get("text") or "", body.get("subject") or ""]
    parts += [f"{k}: {v}" for k, v in (body.get("headers") or {}).items() if isinstance(v, str)]
    return sum(len(p.encode()) for p in parts) + sum(len(a["content"]) for a in attachments)


def _shared(body: dict, problems: Problems) -> dict:
    """The fields send and bulk share, checked and normalized."""
    check_content(body, problems)
    if body.get("from") is None:
        problems.add("from", "is required")
    return {
        "from": address(body.get("from"), "from", problems) if body.get("from") is not None else None,
        "replyTo": address(body["replyTo"], "replyTo", problems) if body.get("replyTo") else None,
        "cc": address_list(body.get("cc"), "cc", problems),
        "bcc": address_list(body.get("bcc"), "bcc", problems),
        "subject": body.get("subject"),
        "html": body.get("html"),
        "text": body.get("text"),
        "templateId": body.get("templateId"),
        "dynamicData": dict(body.get("dynamicData") or {}),
        "headers": check_headers(body.get("headers"), problems),
        "unsubscribeGroupId": body.get("unsubscribeGroupId"),
        "trackingOpen": body.get("trackingOpen"),
        "trackingClick": body.get("trackingClick"),
        "bypassSuppressions": bool(body.get("bypassSuppressions")),
    }


def _check_count(to: list, shared: dict, field: str, problems: Problems) -> None:
    if len(to) + len(shared["cc"]) + len(shared["bcc"]) > MAX_RECIPIENTS:
        problems.add(field, f"to, cc and bcc together are at most {MAX_RECIPIENTS} recipients per email")


def check_send(body: dict) -> dict:
    """A valid, normalized `/mails/send` request, or InvalidInput listing every broken rule."""
    problems = Problems()
    shared = _shared(body, problems)
    if body.get("to") is None or body.get("to") == []:
        problems.add("to", "is required")
    to = address_list(body.get("to"), "to", problems)
    _check_count(to, shared, "to", problems)
    attachments = check_attachments(body.get("attachments"), problems)
    if email_size(body, attachments) > MAX_EMAIL_BYTES:
        problems.add("attachments", "the whole email is at most 40 MB")
    problems.raise_if_any()
    return {**shared, "to": to, "attachments": attachments}


def check_bulk(body: dict) -> dict:
    """A valid, normalized `/mails/bulk` request (recipients[] each with its own dynamicData).

    Broken shared fields refuse the whole request. A broken recipient is only left out: it is
    listed in `refused` ({index, email, reason}); the request is refused when none is left.
    """
    problems = Problems()
    shared = _shared(body, problems)
    recipients = body.get("recipients") or []
    if not recipients:
        problems.add("recipients", "at least one recipient is required")
    if len(recipients) > MAX_BULK_RECIPIENTS:
        problems.add("recipients", f"at most {MAX_BULK_RECIPIENTS} recipients per request")
    problems.raise_if_any()
    checked, refused, details = _split_recipients(recipients, shared)
    if not checked:
        raise InvalidInput("Validation failed: no valid recipient", details=details)
    return {**shared, "recipients": checked, "attachments": [], "refused": refused}


def _split_recipients(recipients: list, shared: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """(valid recipients with their index, refusals, every problem found) of a bulk request."""
    checked, refused, details = [], [], []
    for i, item in enumerate(recipients):
        mine = Problems()
        found = _bulk_recipient(item, f"recipients[{i}]", shared, mine)
        if found and not mine.details:
            checked.append({**found, "index": i})
            continue
        details += mine.details
        refused.append(refusal(i, item, mine.details))
    return checked, refused, details


def refusal(index: int, item: Any, details: list[dict]) -> dict:
    """How a refused bulk recipient is reported: its position, its address as sent, and why."""
    email = item.get("email") if isinstance(item, dict) else None
    reason = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return {
        "index": index,
        "email": email if isinstance(email, str) else None,
        "reason": reason,
        "code": "INVALID_RECIPIENT",
    }


def _bulk_recipient(item: Any, field: str, shared: dict, problems: Problems) -> dict | None:
    """One bulk recipient: an address, its own dynamicData, optional own cc/bcc (the Node SDK's shape)."""
    found = address(item, field, problems)
    if found is None:
        return None
    cc = address_list(item.get("cc"), f"{field}.cc", problems) or shared["cc"]
    bcc = address_list(item.get("bcc"), f"{field}.bcc", problems) or shared["bcc"]
    if 1 + len(cc) + len(bcc) > MAX_RECIPIENTS:
        problems.add(field, f"to, cc and bcc together are at most {MAX_RECIPIENTS} recipients per email")
    data = item.get("dynamicData") or {}
    return {**found, "dynamicData": {**shared["dynamicData"], **data}, "cc": cc, "bcc": bcc}
