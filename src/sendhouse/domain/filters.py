"""The filters of list and search requests: plain values that the API, MCP and the dashboard build,
services pass on and store/ turns into WHERE clauses. Every field is optional (None: any)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CampaignFilter:
    """The list filters of GET /campaigns."""

    status: str | None = None
    name: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class TemplateFilter:
    """What GET /templates/search narrows by (every text filter is a case-insensitive substring)."""

    query: str | None = None
    template_type: str | None = None
    name: str | None = None
    subject: str | None = None
    template_id: str | None = None


@dataclass(frozen=True)
class InboxFilter:
    """What GET /inbound/messages and the dashboard's inbox narrow by; `blocked` holds the statuses
    left out unless `include_blocked` (services/inbound fills it)."""

    from_email: str | None = None
    to_email: str | None = None
    thread_id: str | None = None
    search: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    include_blocked: bool = False
    blocked: tuple[str, ...] = ()
