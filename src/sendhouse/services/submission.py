"""SMTP submission as a use case: a message an app handed to the submission server becomes a
transactional email in the ledger (services/transactional), committed before the server answers 250.

The message is parsed once and checked like a `/mails/send` body: on the event loop for messages
up to INLINE_BYTES (about 0.2 ms for 4 KB, less than the two thread hand-offs it used to take), in a
thread for larger ones. Messages arriving
together on many connections are written in small group commits (GroupCommit): up to MAX_GROUP
messages are read for (per project: tracking defaults, one `from` check per domain, one
suppression lookup; on SQLite first, outside any transaction: quick reads; on PostgreSQL in the
write transaction, which saves a connection checkout), then one write transaction inserts all
their rows (BEGIN, one INSERT, COMMIT); a message the project's rules refuse (e.g. a `from` it may
not use) refuses only itself; every caller is answered after the commit, and a failed commit fails
all of them (the server answers 451, nothing is kept). Each connection has one message in flight
(DATA waits for its 354), so after a commit the writer waits up to LINGER (2 ms) for as many
messages as were in flight then: the connections it answered send their next message into the next
group, which stays one group of all of them instead of splitting into two smaller ones written in
turn (the reads and BEGIN/COMMIT of a group cost about ten times one message's rows).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sendhouse.config import Settings
from sendhouse.domain import inbound_mail, submitted
from sendhouse.domain import mails as mail_rules
from sendhouse.services import transactional
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.submission")
MAX_GROUP = 50
LINGER = 0.002  # seconds a group may wait for the messages of the connections the last one answered
INLINE_BYTES = 128 * 1024  # larger messages are parsed and checked in a thread


@dataclass
class _Pending:
    project_id: str
    mail: dict
    message_id: str | None
    done: asyncio.Future


@dataclass
class GroupCommit:
    """Writes queued submissions in shared transactions, one writer task at a time."""

    db: Database
    settings: Settings
    _pending: list[_Pending] = field(default_factory=list)
    _writer: asyncio.Task | None = None
    _expected: int = 0  # messages in flight when the last group was written
    _enough: asyncio.Future | None = None  # set once _expected messages are queued (_gather)

    async def queue(self, project_id: str, mail: dict, message_id: str | None) -> dict:
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(project_id, mail, message_id, done))
        if len(self._pending) >= self._expected:
            self._gathered()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await done

    async def _gather(self) -> None:
        """Wait up to LINGER seconds while fewer messages are queued than were in flight at the last
        commit: the connections it answered are sending their next message, which can share this
        commit instead of making one more (one group of 10 instead of two of 5 in turn)."""
        if len(self._pending) >= self._expected:
            return
        loop = asyncio.get_running_loop()
        self._enough = loop.create_future()
        timer = loop.call_later(LINGER, self._gathered)
        try:
            await self._enough
        finally:
            timer.cancel()
            self._enough = None

    def _gathered(self) -> None:
        if self._enough is not None and not self._enough.done():
            self._enough.set_result(None)

    async def _drain(self) -> None:
        while self._pending:
            await self._gather()
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            try:
                results = await self._write(group)
            except Exception as error:  # noqa: BLE001 - the commit failed: every caller is told
                results = [error] * len(group)
            self._expected = min(len(group) + len(self._pending), MAX_GROUP)
            for item, result in zip(group, results, strict=True):
                if not item.done.done():
                    item.done.set_exception(result) if isinstance(
                        result, Exception
                    ) else item.done.set_result(result)

    async def _write(self, group: list[_Pending]) -> list:
        """The group's reads (tracking defaults, `from` domains, suppressions: per project), then
        one write transaction that inserts its rows. On SQLite the reads come first, outside any
        transaction (quick reads on the loop's thread, while BEGIN IMMEDIATE would hold the write
        lock); on PostgreSQL inside the write transaction, on its connection (a checkout of its own
        cost as many round trips as the reads)."""
        if self.db.is_sqlite:
            async with self.db.quick_read() as conn:
                prepared, results = await self._prepare(conn, group)
            async with self.db.write(quick=True) as conn:
                await transactional.insert_prepared(conn, prepared)
            return results
        async with self.db.write() as conn:
            prepared, results = await self._prepare(conn, group)
            await transactional.insert_prepared(conn, prepared)
        return results

    async def _prepare(self, conn, group: list[_Pending]) -> tuple[list, list]:
        """The rows of the group's messages, per project, and each message's result or refusal."""
        by_project: dict[str, list[int]] = {}
        for i, item in enumerate(group):
            by_project.setdefault(item.project_id, []).append(i)
        results: list = [None] * len(group)
        prepared = []
        for project_id, positions in by_project.items():
            mails = [(group[i].mail, group[i].message_id) for i in positions]
            prepared.append(await transactional.prepare_checked_mails(conn, self.settings, project_id, mails))
            for i, result in zip(positions, prepared[-1].results, strict=True):
                results[i] = result
        return prepared, results


def _checked(raw: bytes, mail_from: str, rcpts: list[str]) -> tuple[dict, str | None]:
    """The checked send request of a raw message, and the Message-ID to keep (pure CPU work)."""
    parsed = inbound_mail.parse(raw)
    return mail_rules.check_send(submitted.send_request(parsed, mail_from, rcpts)), submitted.kept_message_id(
        parsed
    )


async def submit(
    db: Database,
    settings: Settings,
    project_id: str,
    *,
    mail_from: str,
    rcpts: list[str],
    raw: bytes,
    group: GroupCommit | None = None,
) -> str:
    """Queue the message for the envelope recipients; its email id. Raises sendhouse.errors on
    refusal (e.g. InvalidOperation VERIFIED_DOMAIN_REQUIRED), anything else on storage failure."""
    if len(raw) > INLINE_BYTES:
        mail, message_id = await asyncio.to_thread(_checked, raw, mail_from, rcpts)
    else:
        mail, message_id = _checked(raw, mail_from, rcpts)
    if group is None:
        async with db.write() as conn:
            sent = await transactional.queue_checked_mail(
                conn, settings, project_id, mail, message_id=message_id
            )
    else:
        sent = await group.queue(project_id, mail, message_id)
    return sent["emailId"]
