"""All tables, one module per area, sharing one MetaData. Migrations must match (a test checks)."""

from sendhouse.store.schema.base import metadata
from sendhouse.store.schema import core, audience, content, campaigns, feedback, webhooks, dashboard  # noqa: F401

__all__ = ["metadata"]
