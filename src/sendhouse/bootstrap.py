"""Builds the process-wide container from Settings: the only place that picks SQLite or PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sendhouse.config import Settings
from sendhouse.domain.ratelimit import RateLimiter
from sendhouse.store.db import Database
from sendhouse.store.migrate import upgrade_to_head


@dataclass
class Container:
    """Everything long-lived that handlers, the worker and the CLI share."""

    settings: Settings
    db: Database
    rate_limiter: RateLimiter
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def fence(self):
        """The stop fence pause/abort and the workers meet on (store/fence.py); the database handle
        owns it, so every service holding the handle reaches the same one."""
        return self.db.fence

    async def close(self) -> None:
        await self.db.close()


def build_container(settings: Settings, *, migrate: bool | None = None) -> Container:
    """Open the database (migrating SQLite by itself unless told otherwise) and wire the parts."""
    url = settings.resolved_database_url()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate if migrate is not None else url.startswith("sqlite"):
        upgrade_to_head(url)
    settings.resolved_secret_key()
    return Container(
        settings=settings,
        db=Database(url, busy_timeout=settings.sqlite_busy_timeout),
        rate_limiter=RateLimiter(settings.rate_limit),
    )
