"""Contacts, contact properties, lists and segments, suppression groups and suppressions (issue 3)."""

import sqlalchemy as sa  # noqa: F401

from sendhouse.store.schema.base import id_column, metadata  # noqa: F401
from sendhouse.store.types import JSONType, UTCDateTime  # noqa: F401
