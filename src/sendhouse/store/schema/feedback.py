"""Tracking and feedback events: opens, clicks, bounces, complaints, unsubscribes (issue 6)."""

import sqlalchemy as sa  # noqa: F401

from sendhouse.store.schema.base import id_column, metadata  # noqa: F401
from sendhouse.store.types import JSONType, UTCDateTime  # noqa: F401
