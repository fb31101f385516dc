"""Operations endpoints: GET /metrics (Prometheus text format), GET /healthz, and the request-latency middleware.

/metrics joins two sources:
- the ledger, counted at scrape time (a crash loses nothing): `sendhouse_messages{kind,status}`
  (rows per status: sent, deferred, failed, bounced, queued, ...), `sendhouse_message_feedback{type}`
  (bounce and complaint events), `sendhouse_campaign_messages_pending{project_id,campaign_id,status}`;
- this process's histograms (sendhouse.observability): worker claim latency, SMTP latency, API
  latency by route template; plus prometheus-client's process and Python collectors.
The endpoint carries no per-recipient data; restrict it to your monitoring network at the proxy.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendhouse import __version__
from sendhouse.api.envelope import EnvelopeResponse, error_body, ok
from sendhouse.observability import API_SECONDS, event
from sendhouse.services.metrics import LedgerCounts, ledger_counts

router = APIRouter(tags=["operations"], include_in_schema=False)
log = logging.getLogger("sendhouse.api")
UNMATCHED = "unmatched"


class LedgerSnapshot:
    """A collector over counts fetched just before the scrape (prometheus collectors are synchronous)."""

    def __init__(self, counts: LedgerCounts):
        self.by_status, self.feedback, self.pending = counts.by_status, counts.feedback, counts.pending

    def collect(self):
        rows = GaugeMetricFamily(
            "sendhouse_messages",
            "Ledger rows by kind and status (sent, deferred, failed, "
            "bounced, queued, sending, cancelled, suppressed)",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(self.by_status.items()):
            rows.add_metric([kind, status], count)
        feedback = GaugeMetricFamily(
            "sendhouse_message_feedback", "Bounce and complaint events recorded, by type", labels=["type"]
        )
        for kind, count in sorted(self.feedback.items()):
            feedback.add_metric([kind], count)
        pending = GaugeMetricFamily(
            "sendhouse_campaign_messages_pending",
            "Ledger rows of a campaign still to send, by status",
            labels=["project_id", "campaign_id", "status"],
        )
        for project_id, campaign_id, status, count in sorted(self.pending):
            pending.add_metric([project_id, campaign_id, status], count)
        return [rows, feedback, pending]


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus exposition: ledger counts and this process's histograms."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerSnapshot(await ledger_counts(request.app.state.container.db)))
    body = generate_latest(registry) + generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    """200 when the process answers and its database does; 503 otherwise."""
    try:
        await request.app.state.container.db.ping()
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        event(log, "healthz_failed", logging.WARNING, error=str(exc))
        body = error_body("The database does not answer", "UNHEALTHY", 503)
        return EnvelopeResponse(body, status_code=503)
    return ok({"status": "ok", "version": __version__})


class RequestMetricsMiddleware:
    """Pure ASGI: observe each HTTP request's latency by route template and log one api_request event."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            _observe(scope, status[0], time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/campaigns/{campaign_id}`), never the raw path."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


def _observe(scope: Scope, status: int, seconds: float) -> None:
    route = route_template(scope)
    API_SECONDS.labels(method=scope["method"], route=route, status=f"{status // 100}xx").observe(seconds)
    event(
        log,
        "api_request",
        method=scope["method"],
        route=route,
        status=status,
        duration_ms=round(seconds * 1000, 2),
    )
