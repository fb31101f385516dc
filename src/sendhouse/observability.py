"""Operability shared by every process: structured JSON logs and the latency histograms.

- Logs: `configure_logging(role=...)` (called by every `sendhouse serve` process and by `sendhouse
  worker`) sends every record to stderr as one JSON object per line: `ts`, `level`, `logger`,
  `role` and `pid` (which process of the supervisor tree wrote it), `action` (one event
  name per action: api_request, message_sent, campaign_started, ...), `message` and the fields
  given. `event(logger, action, **fields)` writes such a record; plain log calls get the action
  "log" unless they pass `extra={"action": ...}`. `event_after_commit(...)` (store/db.py) writes
  it once the enclosing `Database.write()` transaction has committed (never for a change that
  rolled back):
  campaign_created / _scheduled / _started / _paused / _resumed / _aborted / _finished,
  campaign_stale_schedule_paused, campaign_auto_aborted, bounce_received, complaint_received,
  unsubscribed, resubscribed; contacts_imported, webhook_delivered and webhook_failed follow their
  own commits.
- Histograms (prometheus-client, in this process's default registry): claim latency and SMTP
  latency observed by the worker, API request latency observed by api.metrics' middleware.
  Counts of sent / deferred / failed / bounced messages are not kept here: api.metrics derives
  them from the ledger at scrape time, so a crash loses nothing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CLAIM_SECONDS = Histogram(
    "sendhouse_worker_claim_seconds",
    "Time a worker spends claiming one batch of ledger rows (one transaction)",
    buckets=LATENCY_BUCKETS,
)
SMTP_SECONDS = Histogram(
    "sendhouse_smtp_send_seconds",
    "Time from handing one message to the transport to the relay's final reply (includes the stop gate)",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
API_SECONDS = Histogram(
    "sendhouse_api_request_seconds",
    "API request latency by route template, method and status class",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

# LogRecord attributes that are not user fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "action",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, role and pid (when a role is given), action,
    message, the record's extra fields, exc."""

    def __init__(self, role: str | None = None):
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if self.role:
            body.update(role=self.role, pid=record.process)
        body.update(action=getattr(record, "action", None) or "log", message=record.getMessage())
        body.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info and record.exc_info[0] is not None:
            body["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        try:  # orjson: one line costs a few microseconds (an api_request line per request)
            return orjson.dumps(body, default=str, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
        except TypeError:  # an integer beyond 64 bits
            return json.dumps(body, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream=None, *, role: str | None = None) -> logging.Handler:
    """Route the `sendhouse` and `uvicorn` loggers to one JSON handler on `stream` (stderr); every
    line carries `role` (e.g. api, worker, supervisor) and the pid when a role is given."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(role))
    for name in ("sendhouse", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # api_request events replace access lines
    return handler


def event(logger: logging.Logger, action: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event named `action` with its fields."""
    if logger.isEnabledFor(level):
        logger.log(level, action, extra={"action": action, **fields})


class TimedTransport:
    """A delivery transport whose sends are observed in SMTP_SECONDS by outcome (gate refusals left out)."""

    def __init__(self, inner):
        self.inner = inner

    async def send(self, msg, *, gate=None):
        started = time.perf_counter()
        result = await self.inner.send(msg, gate=gate)
        if result.outcome != "skipped":
            SMTP_SECONDS.labels(outcome=result.outcome).observe(time.perf_counter() - started)
        return result

    async def close(self) -> None:
        await self.inner.close()


_delivery_log = logging.getLogger("sendhouse.delivery")
OUTCOME_ACTIONS = (("sent", "message_sent"), ("deferred", "message_deferred"), ("failed", "message_failed"))


def log_outcomes(plan, rows_by_id: dict[str, dict]) -> None:
    """One event per recorded delivery outcome (plan: services.sending.Plan)."""
    for attr, action in OUTCOME_ACTIONS:
        for item in getattr(plan, attr):
            _log_row(action, rows_by_id.get(item["row_id"], {}), item)
    for outcome in plan.bounced:
        _log_row(
            "message_bounced", outcome.row, {"response": outcome.result.response, "code": outcome.result.code}
        )


def _log_row(action: str, row: dict, item: dict) -> None:
    event(
        _delivery_log,
        action,
        message_id=row.get("id"),
        campaign_id=row.get("campaign_id"),
        project_id=row.get("project_id"),
        kind=row.get("kind"),
        **{k: v for k, v in item.items() if k in ("response", "error", "retry_at", "code")},
    )
