"""Templates, senders and sending domains with their DKIM keys (issue 4)."""

import sqlalchemy as sa  # noqa: F401

from sendhouse.store.schema.base import id_column, metadata  # noqa: F401
from sendhouse.store.types import JSONType, UTCDateTime  # noqa: F401
