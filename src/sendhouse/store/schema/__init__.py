"""All tables, one module per area, sharing one MetaData. Migrations must match (a test checks)."""

from sendhouse.store.schema import (  # noqa: F401
    audience,
    automations,
    campaigns,
    content,
    core,
    dashboard,
    feedback,
    inbound,
    webhooks,
)
from sendhouse.store.schema.base import metadata

__all__ = ["metadata"]
