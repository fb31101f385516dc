"""The base of every request body model: unknown fields ignored, wrong types rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Strict types (no "1" for 1, no 1 for true), unknown JSON fields ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class Address(RequestModel):
    """An email address with an optional display name, as AutoSend writes `from`, `to`, `replyTo`."""

    email: str
    name: str | None = None
