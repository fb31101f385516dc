"""The `capture` transport (the default): every message is kept as an .eml file, never sent.

Files live in `<data_dir>/outbox/<capture id>.eml`; `<data_dir>/outbox/index.jsonl` is an
append-only index (one JSON object per line: id, message_id_header, mail_from, rcpt_to, subject,
size, path, time) that the dashboard reads through list_captured / read_captured.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import re
from pathlib import Path

import orjson

from sendhouse.delivery.base import SKIPPED, Gate, SendResult, classify
from sendhouse.domain import ids, times
from sendhouse.errors import NotFound

INDEX_NAME = "index.jsonl"
_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.default)


def outbox_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "outbox"


_PLAIN_SUBJECT = re.compile(rb"^Subject: ([\x20-\x7e]*)\r\n(?![ \t])", re.MULTILINE)


def _subject(data: bytes) -> str:
    """The decoded Subject: read straight from the bytes when it is one line of plain ASCII with no
    encoded words (the common case, ~100x cheaper), else through the email header parser."""
    head = data.split(b"\r\n\r\n", 1)[0]
    plain = _PLAIN_SUBJECT.search(head)
    if plain and b"=?" not in plain.group(1):
        return plain.group(1).decode("ascii").strip()
    return str(_HEADER_PARSER.parsebytes(head).get("Subject", ""))


class CaptureTransport:
    """Stores each message under data_dir/outbox and answers like a relay that accepted it."""

    def __init__(self, data_dir: Path | str):
        self.folder = outbox_dir(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()

    async def send(self, msg, *, gate: Gate | None = None) -> SendResult:
        if gate is not None:
            if not await gate.enter():
                return SendResult(SKIPPED)
            gate.leave()  # nothing leaves the process: "MAIL FROM" is this call itself
        capture_id = ids.new_id()
        path = self.folder / f"{capture_id}.eml"
        entry = {
            "id": capture_id,
            "message_id_header": msg.message_id_header,
            "mail_from": msg.mail_from,
            "rcpt_to": msg.rcpt_to if isinstance(msg.rcpt_to, str) else ", ".join(msg.rcpt_to),
            "subject": _subject(msg.data),
            "size": len(msg.data),
            "path": path.name,
            "time": times.iso(times.utcnow()),
        }
        async with self._lock:
            path.write_bytes(msg.data)
            with (self.folder / INDEX_NAME).open("ab") as index:
                index.write(orjson.dumps(entry) + b"\n")
        return classify(250, f"2.0.0 captured as {capture_id}")

    async def close(self) -> None:
        return None


def list_captured(
    data_dir: Path | str, *, limit: int = 50, offset: int = 0, rcpt_to: str | None = None
) -> tuple[list[dict], int]:
    """Captured messages, newest first, optionally only those to one address; and how many match."""
    index = outbox_dir(data_dir) / INDEX_NAME
    if not index.exists():
        return [], 0
    entries = [orjson.loads(line) for line in index.read_bytes().splitlines() if line.strip()]
    if rcpt_to:
        entries = [e for e in entries if rcpt_to.lower() in e["rcpt_to"].lower().split(", ")]
    entries.reverse()
    return entries[offset : offset + limit], len(entries)


def read_captured(data_dir: Path | str, capture_id: str) -> tuple[dict, bytes]:
    """One captured message: its index entry and its raw bytes (NotFound if unknown)."""
    if not ids.is_object_id(capture_id):
        raise NotFound("Captured message not found")
    entries, _ = list_captured(data_dir, limit=10**9)
    for entry in entries:
        if entry["id"] == capture_id:
            return entry, (outbox_dir(data_dir) / entry["path"]).read_bytes()
    raise NotFound("Captured message not found")
