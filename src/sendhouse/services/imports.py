"""CSV contact import: header mapping, per-row checks, chunked upserts, progress reporting.

`import_rows` takes the header and an iterator of (line number, cells) and a progress callback,
so the CLI stays thin and the dashboard can reuse it. Columns map to email, firstName
(first_name), lastName (last_name), userId, mobile, or a contact property by name (values
converted to its type); other columns are ignored and reported. A bad row is skipped and
reported with its line number. Contacts are upserted by email: a re-import updates, a blank cell
keeps the stored value, custom fields merge. Each chunk is one transaction, so an interrupted
import leaves whole chunks only. Within a chunk a repeated email merges into one contact (later
cells win); in a later chunk the upsert merges it the same way. Such a row is reported with its
line and the line the email first appeared on (for the first REMEMBERED addresses of a file: a
dictionary of them is kept while the import runs). When a webhook of the project is subscribed to contact.created or contact.updated,
each chunk emits one event per changed contact in its own transaction (one lookup of the stored
rows before and after, one multi-row insert of deliveries); otherwise a chunk costs one query more.
Contacts the chunk creates, or adds to the import's list, enter the active automations they
trigger in the chunk's transaction (services.automation_triggers).
A finished import logs contacts_imported (rows read, imported, failed).
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from sendhouse.domain import emails, ids
from sendhouse.domain.contacts import TEXT_MAX, csv_value, mobile_or_error
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.observability import event
from sendhouse.services import automation_triggers as triggers
from sendhouse.services import projects as project_service
from sendhouse.services import webhooks
from sendhouse.store import contacts as store
from sendhouse.store import lists as list_store
from sendhouse.store import projects as project_store
from sendhouse.store import properties as property_store
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.imports")
CHUNK_SIZE = 10_000
YIELD_EVERY = 500
ERRORS_KEPT = 1000
REMEMBERED = 100_000  # addresses whose first line is kept to report later rows repeating them
_BUILTIN_HEADERS = {
    "email": "email",
    "emailaddress": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "userid": "user_id",
    "mobile": "mobile",
}
_TEXT_SLOTS = ("first_name", "last_name", "user_id", "mobile")
_UPSERT_EVENTS = {"contact.created", "contact.updated"}
Progress = Callable[[int], Awaitable[None] | None]


@dataclass
class ImportReport:
    """What an import did: rows read, contacts written, bad rows (first ERRORS_KEPT kept), rows
    merged into the contact of an earlier row with the same email (`repeats`: (line, first line),
    the first ERRORS_KEPT)."""

    rows: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    merged: int = 0
    repeats: list[tuple[int, int]] = field(default_factory=list)

    def fail(self, line: int, message: str) -> None:
        self.failed += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append((line, message))

    def repeat(self, line: int, first: int) -> None:
        self.merged += 1
        if len(self.repeats) < ERRORS_KEPT:
            self.repeats.append((line, first))


class _FirstLines:
    """The line each address of a file first appeared on (the first REMEMBERED addresses)."""

    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    def earlier(self, email: str, line: int) -> int | None:
        """The line `email` appeared on before, or None (it is remembered as on `line`)."""
        first = self.lines.get(email)
        if first is None and len(self.lines) < REMEMBERED:
            self.lines[email] = line
        return first


@dataclass
class ColumnMap:
    """Where each known field sits in a row."""

    email: int
    text: list[tuple[int, int, str]]  # (cell index, slot position in _TEXT_SLOTS, slot)
    custom: list[tuple[int, str, str]]  # (cell index, property name, type)
    ignored: list[str]


def _refuse(field: str, message: str) -> InvalidInput:
    """A validation error whose message itself says what is wrong (the CLI prints the message)."""
    return InvalidInput(message, details=[{"field": field, "message": message}])


def _header_key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


def map_columns(header: list[str], types: dict[str, str]) -> ColumnMap:
    """Map a CSV header to contact fields and properties (InvalidInput without an email column)."""
    by_lower = {name.lower(): name for name in types}
    slots: dict[str, int] = {}
    custom, ignored = [], []
    for index, raw in enumerate(header):
        name = raw.strip()
        slot = _BUILTIN_HEADERS.get(_header_key(name))
        prop = name if name in types else by_lower.get(name.lower())
        if slot and slot in slots:
            raise _refuse("header", f"two columns map to {slot}: {header[slots[slot]]!r} and {raw!r}")
        if slot:
            slots[slot] = index
        elif prop:
            custom.append((index, prop, types[prop]))
        else:
            ignored.append(raw)
    if "email" not in slots:
        read = ", ".join(repr(raw) for raw in header) or "nothing"
        hint = (
            " (the file looks separated by semicolons: use commas)"
            if any(";" in raw for raw in header)
            else ""
        )
        raise _refuse("header", f"the CSV needs an email column; its header row read as {read}{hint}")
    text = [(index, _TEXT_SLOTS.index(slot), slot) for slot, index in slots.items() if slot != "email"]
    return ColumnMap(slots["email"], text, custom, ignored)


def _convert(columns: ColumnMap, cells: list[str]) -> tuple[str, list[Any]] | str:
    """(email, [first, last, user_id, mobile, custom]) or an error message."""
    width = len(cells)
    if width <= columns.email:
        return "missing email"
    email = emails.key_or_none(cells[columns.email])
    if email is None:
        return f"invalid email {cells[columns.email]!r}"
    values: list[Any] = [None, None, None, None, {}]
    for index, position, slot in columns.text:
        text = cells[index].strip() if index < width else ""
        if text:
            cell, problem = _text_cell(slot, text)
            if problem:
                return problem
            values[position] = cell
    for index, name, kind in columns.custom:
        text = cells[index] if index < width else ""
        if text.strip():
            value, problem = csv_value(kind, text)
            if problem:
                return f"{name} {problem}"
            values[4][name] = value
    return email, values


def _text_cell(slot: str, text: str) -> tuple[str | None, str | None]:
    if slot == "mobile":
        return mobile_or_error(text)
    if len(text) > TEXT_MAX:
        return None, f"{slot} longer than {TEXT_MAX} characters"
    return text, None


def _merge(old: list[Any], new: list[Any]) -> list[Any]:
    """A repeated email in one chunk: later non-blank cells win, custom fields merge."""
    merged = [n if n is not None else o for o, n in zip(old[:4], new[:4], strict=False)]
    return [*merged, {**old[4], **new[4]}]


class _Chunk:
    """Rows waiting to be written, keyed by email."""

    def __init__(self) -> None:
        self.pending: dict[str, list[Any]] = {}

    def add(self, email: str, values: list[Any]) -> None:
        old = self.pending.get(email)
        self.pending[email] = values if old is None else _merge(old, values)

    def tuples(self, project_id: str) -> list[tuple]:
        now = utcnow()
        return [
            (ids.new_id(), project_id, email, v[0], v[1], v[2], v[3], store.json_text(v[4]), "csv", now, now)
            for email, v in self.pending.items()
        ]


async def _check_list(db: Database, project_id: str, list_id: str | None) -> None:
    if list_id is None:
        return
    async with db.read() as conn:
        kind = (await store.list_types(conn, project_id, [list_id])).get(list_id)
    if kind is None:
        raise NotFound(f"Contact list {list_id} not found", code="CONTACT_LIST_NOT_FOUND")
    if kind != "list":
        raise InvalidOperation(
            f"{list_id} is a segment; contacts can only be added to lists", code="CONTACT_LIST_IS_SEGMENT"
        )


async def _write(db: Database, project_id: str, chunk: _Chunk, list_id: str | None) -> int:
    rows = chunk.tuples(project_id)
    keys = list(chunk.pending)
    async with db.write() as conn:
        watched = await webhooks.subscribed_events(conn, project_id) & _UPSERT_EVENTS
        flows = await triggers.watching(conn, project_id)
        before = await store.find_by_emails(conn, project_id, keys) if watched or flows else []
        members = await _members(conn, list_id, before) if flows else set()
        await store.upsert_many(conn, rows)
        if list_id:
            await store.add_emails_to_list(conn, project_id, list_id, keys, rows[0][-1])
        if watched or flows:
            await _changed(conn, project_id, before, keys, rows[0][-1], watched, flows, list_id, members)
    return len(rows)


async def _members(conn, list_id: str | None, before: list[dict]) -> set[str]:
    """Which contacts of the chunk were already in the import's list."""
    return await list_store.members_among(conn, list_id, [row["id"] for row in before]) if list_id else set()


async def _changed(
    conn,
    project_id: str,
    before: list[dict],
    keys: list[str],
    now,
    watched,
    flows,
    list_id: str | None,
    members: set[str],
) -> None:
    """contact.created / contact.updated (changedFields) for the contacts of a chunk just written,
    and their entries into the automations the import triggers (in the chunk's transaction)."""
    old = {row["email"]: row for row in before}
    after = await store.find_by_emails(conn, project_id, keys)
    pairs = [(old.get(row["email"]), row) for row in after]
    if watched:
        await webhooks.emit_contact_changes(conn, project_id, pairs, now=now)
    if flows:
        joined = [p for p in pairs if p[1]["id"] not in members]
        await triggers.contacts_changed(
            conn, project_id, joined, flows=flows, now=now, added_to=[list_id] if list_id else []
        )
        stayed = [p for p in pairs if p[1]["id"] in members]
        await triggers.contacts_changed(conn, project_id, stayed, flows=flows, now=now)


class _Writer:
    """Writes one chunk in the background while the next is parsed (the database works meanwhile)."""

    def __init__(
        self,
        db: Database,
        project_id: str,
        list_id: str | None,
        report: ImportReport,
        on_progress: Progress | None,
    ):
        self.db, self.project_id, self.list_id = db, project_id, list_id
        self.report, self.on_progress = report, on_progress
        self.task: asyncio.Task | None = None

    async def submit(self, chunk: _Chunk) -> None:
        await self.drain()
        self.task = asyncio.create_task(self._write(chunk, self.report.rows))

    async def drain(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            await task

    async def _write(self, chunk: _Chunk, rows_read: int) -> None:
        self.report.imported += await _write(self.db, self.project_id, chunk, self.list_id)
        await _progress(self.on_progress, rows_read)


async def import_rows(
    db: Database,
    project_id: str,
    header: list[str],
    rows: Iterable[tuple[int, list[str]]],
    *,
    list_id: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Import contacts from rows of cells; `on_progress(rows read so far)` after every chunk
    (awaited when it returns an awaitable).

    If reading the rows fails, the chunk being written is finished (it is whole) before the error
    propagates; the rows read after it are not written.
    """
    async with db.read() as conn:
        columns = map_columns(header, await property_store.property_types(conn, project_id))
    await _check_list(db, project_id, list_id)
    report, chunk = ImportReport(ignored_columns=columns.ignored), _Chunk()
    writer, first_lines = _Writer(db, project_id, list_id, report, on_progress), _FirstLines()
    try:
        for line, cells in rows:
            report.rows += 1
            converted = _convert(columns, cells)
            if isinstance(converted, str):
                report.fail(line, converted)
            else:
                if (first := first_lines.earlier(converted[0], line)) is not None:
                    report.repeat(line, first)
                chunk.add(*converted)
            if len(chunk.pending) >= chunk_size:
                await writer.submit(chunk)
                chunk = _Chunk()
            elif report.rows % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the background write make progress
        if chunk.pending:
            await writer.submit(chunk)
    finally:
        await writer.drain()
    event(
        log,
        "contacts_imported",
        project_id=project_id,
        list_id=list_id,
        rows=report.rows,
        imported=report.imported,
        failed=report.failed,
    )
    await _progress(on_progress, report.rows)
    return report


async def _progress(on_progress: Progress | None, rows_read: int) -> None:
    """Tell the caller how many rows were read (its callback may be a coroutine function)."""
    if on_progress is not None:
        told = on_progress(rows_read)
        if inspect.isawaitable(told):
            await told


def csv_rows(stream: TextIO) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(header, iterator of (line number, cells)) of a CSV text stream; blank lines are skipped."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if not header:
        raise _refuse("file", "the CSV file is empty")

    def _rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num
        try:
            for cells in reader:
                if cells and any(cells):
                    yield start + 1, cells
                start = reader.line_num
        except csv.Error as exc:  # a cell over the csv module's field limit (128 KiB), a stray NUL, ...
            raise _refuse("file", f"line {start + 1}: {exc}") from None

    return header, _rows()


async def resolve_project(db: Database, name_or_id: str | None) -> dict:
    """The project to import into: the one named, else the only project, else the one named `default`."""
    if name_or_id:
        return await project_service.resolve_project(db, name_or_id)
    async with db.read() as conn:
        live = await project_store.list_projects(conn)
    if len(live) == 1:
        return live[0]
    default = [p for p in live if p["name"] == project_service.DEFAULT_PROJECT]
    if not default:
        raise _refuse("project", "several projects exist and none is named `default`: pass --project")
    return default[0]
