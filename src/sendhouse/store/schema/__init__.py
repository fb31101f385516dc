"""All tables, one module per area, sharing one MetaData. Migrations must match (a test checks)."""

from sendhouse.store.schema import audience, campaigns, content, core, dashboard, feedback, inbound, webhooks  # noqa: F401
from sendhouse.store.schema.base import metadata

__all__ = ["metadata"]
