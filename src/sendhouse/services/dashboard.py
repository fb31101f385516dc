"""Dashboard read models over the campaign counters and tracking events: campaign progress, opens and
clicks over time, clicks per link; CSV imports run in the background, each a row of import_jobs (from
the upload awaiting its column mapping to the report) that any API process can read, and which
outlives a restart; the uploaded file waits in the data dir under the job's id."""

from __future__ import annotations

import asyncio
import email.policy
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesParser
from pathlib import Path

from sendhouse.delivery import capture
from sendhouse.domain import ids, preview
from sendhouse.domain.segments import validate_criteria
from sendhouse.domain.times import utcnow
from sendhouse.errors import AppError, NotFound
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import imports
from sendhouse.store import counters
from sendhouse.store import dashboard as store
from sendhouse.store import imports as import_store
from sendhouse.store import segments as segment_store
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.imports")

FINISHED_ROWS = ("sent", "bounced", "failed", "cancelled", "suppressed")
MAX_TIMELINE_EVENTS = 200_000


def progress_of(total: int, counts: dict[str, int]) -> dict:
    """{done, total, percent} where done = rows that reached an end state."""
    done = sum(counts.get(s, 0) for s in FINISHED_ROWS)
    percent = 100 if total and done >= total else (int(done * 100 / total) if total else 0)
    return {"done": done, "total": total, "percent": percent, "counts": counts}


async def _ledger_counts(db: Database, campaign_ids: list[str]) -> dict[str, dict[str, int]]:
    """{campaign: {sent, bounced, failed, cancelled, pending}} from the campaign counters."""
    async with db.quick_read() as conn:
        found = await counters.read(conn, campaign_ids)
    return {cid: counters.as_counts(values)[0] for cid, values in found.items()}


async def campaign_progress(db: Database, project_id: str, campaign_id: str) -> dict:
    """The campaign (AutoSend shape) with its delivery progress."""
    campaign = await campaign_service.get_campaign(db, project_id, campaign_id)
    counts = (await _ledger_counts(db, [campaign_id]))[campaign_id]
    total = (campaign.get("metrics") or {}).get("totalContacts") or sum(counts.values())
    return {"campaign": campaign, **progress_of(total, counts)}


async def progress_many(db: Database, campaigns: list[dict]) -> dict[str, dict]:
    """Progress of list items (their ids are already checked to belong to the project)."""
    counts = await _ledger_counts(db, [c["id"] for c in campaigns])
    totals = {c["id"]: (c.get("metrics") or {}).get("totalContacts") for c in campaigns}
    return {cid: progress_of(totals[cid] or sum(found.values()), found) for cid, found in counts.items()}


def bucket_series(events: list[tuple[str, datetime]], buckets: int) -> dict:
    """Count opens and clicks in `buckets` equal time slices between the first and last event."""
    if not events:
        return {"start": None, "end": None, "opened": [0] * buckets, "clicked": [0] * buckets}
    start, end = events[0][1], events[-1][1]
    span = max((end - start).total_seconds(), 1.0)
    series = {"opened": [0] * buckets, "clicked": [0] * buckets}
    for kind, at in events:
        slot = min(int((at - start).total_seconds() / span * buckets), buckets - 1)
        series[kind][slot] += 1
    return {"start": start, "end": end, **series}


async def campaign_charts(db: Database, project_id: str, campaign_id: str, *, buckets: int = 24) -> dict:
    """Opens and clicks over time, and clicks per link, of one campaign of the project."""
    analytics = await campaign_service.campaign_analytics(db, project_id, campaign_id)
    async with db.read() as conn:
        events = await store.event_times(conn, campaign_id, limit=MAX_TIMELINE_EVENTS)
        links = await store.clicks_per_link(conn, campaign_id)
    return {"analytics": analytics, "timeline": bucket_series(events, buckets), "links": links}


# --- CSV imports in the background ---------------------------------------------------------

STALE_IMPORT = timedelta(minutes=10)  # a running job not heard of for this long was interrupted
ERRORS_STORED = 100
INTERRUPTED = "the import was interrupted (the server stopped); the contacts of whole chunks are kept, import the file again"
_running: set[asyncio.Task] = set()  # this process's import tasks (kept from being collected)


@dataclass
class ImportJob:
    """One upload being imported (a row of import_jobs); `done` rows so far out of about `total`."""

    id: str
    project_id: str
    total: int
    done: int = 0
    status: str = "running"  # mapping | running | finished | failed
    report: imports.ImportReport | None = None
    error: str | None = None
    skipped: list[str] = field(default_factory=list)  # columns left out by choice at the mapping step

    @property
    def percent(self) -> int:
        if self.status != "running":
            return 100
        return min(99, int(self.done * 100 / self.total)) if self.total else 0

    @classmethod
    def of(cls, row: dict) -> ImportJob:
        report = (
            None
            if row["rows_read"] is None
            else imports.ImportReport(
                rows=row["rows_read"],
                imported=row["imported"],
                failed=row["failed"],
                errors=[tuple(e) for e in row["errors"] or []],
                ignored_columns=list(row["ignored_columns"] or []),
                merged=row["merged_rows"] or 0,
                repeats=[tuple(r) for r in row["repeats"] or []],
            )
        )
        return cls(
            row["id"],
            row["project_id"],
            row["total"],
            row["done"],
            row["status"],
            report,
            row["error"],
            list(row["skipped_columns"] or []),
        )


def _finished(report: imports.ImportReport) -> dict:
    return {
        "status": "finished",
        "done": report.rows,
        "rows_read": report.rows,
        "imported": report.imported,
        "failed": report.failed,
        "errors": [list(e) for e in report.errors[:ERRORS_STORED]],
        "ignored_columns": report.ignored_columns,
        "merged_rows": report.merged,
        "repeats": [list(r) for r in report.repeats[:ERRORS_STORED]],
    }


async def _update(db: Database, job_id: str, values: dict) -> None:
    async with db.write() as conn:
        await import_store.update_running(conn, job_id, {**values, "updated_at": utcnow()})


async def _run_import(
    db: Database, job: ImportJob, path: Path, list_id: str | None, mapped: list[str] | None
) -> None:
    async def progress(done: int) -> None:
        await _update(db, job.id, {"done": done})

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header, rows = imports.csv_rows(handle)
            header = mapped or header
            report = await imports.import_rows(
                db, job.project_id, header, rows, list_id=list_id, on_progress=progress
            )
        await _update(db, job.id, _finished(report))
    except AppError as exc:
        await _update(db, job.id, {"status": "failed", "error": exc.message})
    except (UnicodeDecodeError, ValueError) as exc:
        await _update(db, job.id, {"status": "failed", "error": f"the file could not be read as CSV: {exc}"})
    except Exception as exc:
        log.exception("import %s failed", job.id)
        await _update(db, job.id, {"status": "failed", "error": f"the import stopped: {type(exc).__name__}"})
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


def _launch(db: Database, job: ImportJob, path: Path, list_id: str | None, mapped: list[str] | None) -> None:
    task = asyncio.get_running_loop().create_task(_run_import(db, job, path, list_id, mapped))
    _running.add(task)
    task.add_done_callback(_running.discard)


def _rows_in(path: Path) -> int:
    return max(path.read_bytes().count(b"\n") - 1, 1)


async def start_import(
    db: Database,
    project_id: str,
    path: Path,
    list_id: str | None,
    mapped: list[str] | None = None,
    skipped: list[str] | None = None,
) -> ImportJob:
    """Import the CSV at `path` (deleted afterwards) in a background task, reading its header as
    `mapped` when given; returns its job."""
    now = utcnow()
    job = ImportJob(ids.new_id(), project_id, await asyncio.to_thread(_rows_in, path), skipped=skipped or [])
    async with db.write() as conn:
        await import_store.insert(
            conn,
            {
                "id": job.id,
                "project_id": project_id,
                "status": job.status,
                "total": job.total,
                "done": 0,
                "skipped_columns": job.skipped,
                "created_at": now,
                "updated_at": now,
            },
        )
    _launch(db, job, path, list_id, mapped)
    return job


async def get_import(db: Database, project_id: str, job_id: str) -> ImportJob:
    """An import job of the project, from any process; one silent for STALE_IMPORT is failed."""
    async with db.read() as conn:
        row = await import_store.get(conn, project_id, job_id)
    if row is None:
        raise NotFound("Import not found", code="IMPORT_NOT_FOUND")
    now = utcnow()
    if row["status"] == "running" and row["updated_at"] < now - STALE_IMPORT:
        async with db.write() as conn:
            await import_store.update_running(
                conn,
                job_id,
                {"status": "failed", "error": INTERRUPTED, "updated_at": now},
                stale_before=now - STALE_IMPORT,
            )
            row = await import_store.get(conn, project_id, job_id) or row
    return ImportJob.of(row)


PENDING_UPLOAD_KEPT = timedelta(days=1)  # an upload never mapped is forgotten after this long


def upload_file(data_dir: Path, upload_id: str) -> Path:
    return data_dir / "imports" / f"{upload_id}.csv"


async def keep_upload(db: Database, data_dir: Path, project_id: str, path: Path) -> str:
    """Keep an uploaded CSV until its columns are mapped: a job row waiting in `mapping` and the
    file in the data dir under its id (a restart or another API process on this data dir finds
    both); the project's uploads left unmapped for PENDING_UPLOAD_KEPT are forgotten. Its id."""
    upload_id, now = ids.new_id(), utcnow()
    kept = upload_file(data_dir, upload_id)
    rows = await asyncio.to_thread(
        lambda: (path.replace(kept), _rows_in(kept))[1]
    )  # up to 50 MB: off the loop
    async with db.write() as conn:
        await import_store.insert(
            conn,
            {
                "id": upload_id,
                "project_id": project_id,
                "status": "mapping",
                "total": rows,
                "done": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
        forgotten = await import_store.delete_mappings_before(conn, project_id, now - PENDING_UPLOAD_KEPT)
    for old in forgotten:
        upload_file(data_dir, old).unlink(missing_ok=True)
    return upload_id


async def upload_path(db: Database, data_dir: Path, project_id: str, upload_id: str) -> Path:
    """The file of an upload of the project still waiting for its mapping."""
    async with db.read() as conn:
        row = await import_store.get(conn, project_id, upload_id)
    kept = upload_file(data_dir, upload_id)
    if row is None or row["status"] != "mapping" or not kept.exists():
        raise NotFound("This upload is gone; upload the file again", code="IMPORT_NOT_FOUND")
    return kept


async def start_upload(
    db: Database,
    data_dir: Path,
    project_id: str,
    upload_id: str,
    list_id: str | None,
    mapped: list[str],
    skipped: list[str],
) -> ImportJob:
    """Import a mapped upload (once: a second start finds it gone); the job keeps the upload's id."""
    path = await upload_path(db, data_dir, project_id, upload_id)
    async with db.write() as conn:
        won = await import_store.claim_mapping(
            conn, project_id, upload_id, {"skipped_columns": skipped, "updated_at": utcnow()}
        )
        row = await import_store.get(conn, project_id, upload_id)
    if not won:
        raise NotFound("This upload is gone; upload the file again", code="IMPORT_NOT_FOUND")
    assert row is not None  # the conditional update above just changed it
    job = ImportJob.of(row)
    _launch(db, job, path, list_id, mapped)
    return job


# --- segment builder -----------------------------------------------------------------------


async def count_criteria(db: Database, project_id: str, raw: dict) -> int:
    """How many of the project's contacts match filterCriteria now (validated as the API does)."""
    criteria = validate_criteria(raw)
    async with db.read() as conn:
        condition = segment_store.criteria_condition(criteria, dialect=conn.dialect.name)
        return await segment_store.count_matching(conn, project_id, condition)


# --- outbox (capture transport) ------------------------------------------------------------

OUTBOX_SCAN = 5000


@dataclass(frozen=True)
class OutboxFilter:
    """Which captured messages to list: by ledger status, campaign and recipient (a part of the address)."""

    status: str | None = None
    campaign_id: str | None = None
    recipient: str | None = None

    def keeps(self, entry: dict) -> bool:
        return (
            (not self.status or entry["status"] == self.status)
            and (not self.campaign_id or entry["campaignId"] == self.campaign_id)
            and (not self.recipient or self.recipient.lower() in entry["rcpt_to"].lower())
        )


async def outbox(
    db: Database,
    data_dir: Path,
    project_id: str,
    *,
    limit: int,
    offset: int,
    filters: OutboxFilter = OutboxFilter(),
) -> tuple[list[dict], int]:
    """Captured messages of the project's ledger rows (with their campaign and status), newest
    first, filtered (the newest OUTBOX_SCAN are looked at)."""
    entries, _ = capture.list_captured(data_dir, limit=OUTBOX_SCAN)
    async with db.read() as conn:
        rows = await store.outbox_rows(conn, project_id, [e["message_id_header"] for e in entries])
    kept = [{**e, **rows[e["message_id_header"]]} for e in entries if e["message_id_header"] in rows]
    kept = [e for e in kept if filters.keeps(e)]
    return kept[offset : offset + limit], len(kept)


async def captured_message(
    db: Database, data_dir: Path, project_id: str, capture_id: str
) -> tuple[dict, bytes]:
    """One captured message of the project (NotFound for another project's, as if absent)."""
    entry, raw = capture.read_captured(data_dir, capture_id)
    async with db.read() as conn:
        if not await store.project_message_ids(conn, project_id, [entry["message_id_header"]]):
            raise NotFound("Captured message not found")
    return entry, raw


def _parts(raw: bytes, secret: str) -> dict:
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    html = message.get_body(preferencelist=("html",))
    plain = message.get_body(preferencelist=("plain",))
    return {
        "headers": [(k, str(v)) for k, v in message.items()],
        "fromHeader": str(message.get("From", "")),
        "html": preview.inert_html(html.get_content(), secret) if html else "",
        "text": preview.inert_text(plain.get_content(), secret) if plain else "",
    }


async def readable_message(
    db: Database, data_dir: Path, secret: str, project_id: str, capture_id: str
) -> dict:
    """A captured message to read in the dashboard: its real From header, and bodies whose open
    pixel is gone and whose tracked links point at their targets (reading it records nothing)."""
    entry, raw = await captured_message(db, data_dir, project_id, capture_id)
    return {"entry": entry, **_parts(raw, secret)}
