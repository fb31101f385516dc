"""The fields of a campaign that a client may set, under AutoSend's names, declared once.

The API's create and update bodies (api/routes/campaigns.py) extend CampaignFields with what only
the API takes (`from` as an object, the scheduling flags); the MCP tools create_campaign and
update_campaign take each field as a parameter of their own (mcp_tools/base.with_fields), beside
fromEmail/fromName. Only types are checked here: lengths, formats and references are checked by
domain/campaigns.py for every caller alike, so the limits in the schemas below are hints taken
from the same MAX_LENGTH.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, JsonValue

from sendhouse.domain.campaigns import GRADUAL_STRATEGIES, MAX_LENGTH, SEND_MODES


def _text(description: str, field: str | None = None) -> Any:
    hint: dict[str, JsonValue] | None = {"maxLength": MAX_LENGTH[field]} if field else None
    return Field(None, description=description, json_schema_extra=hint)


def _one_of(description: str, values: tuple[str, ...]) -> Any:
    return Field(None, description=description, json_schema_extra={"enum": [*values, None]})


class CampaignFields(BaseModel):
    """What a client may set on a campaign besides its sender address and its scheduling."""

    name: str | None = _text(f"campaign name (1-{MAX_LENGTH['name']} characters)", "name")
    subject: str | None = _text(
        f"subject line (1-{MAX_LENGTH['subject']} characters); merge tags allowed", "subject"
    )
    previewText: str | None = _text(
        f"preview text shown after the subject (≤{MAX_LENGTH['previewText']})", "previewText"
    )
    fromSenderId: str | None = _text("id of a sender to send from (instead of a from address)")
    replyTo: str | None = _text("Reply-To address")
    templateId: str | None = _text("id of the template whose content the campaign sends")
    htmlTemplate: str | None = _text("HTML content (instead of templateId)")
    toLists: list[str] | None = Field(None, description="ids of the lists and segments to send to")
    excludeLists: list[str] | None = Field(
        None, description="ids of lists and segments whose contacts are left out"
    )
    unsubscribeGroupId: str | None = _text("the suppression group its unsubscribe link leaves")
    sendToGlobalList: bool | None = Field(None, description="send to every contact of the project")
    trackingOpen: bool | None = Field(None, description="count opens (a tracking pixel); default true")
    trackingClick: bool | None = Field(None, description="count clicks (links rewritten); default true")
    sendMode: str | None = _one_of("immediate, scheduled or gradual", SEND_MODES)
    gradualStrategy: str | None = _one_of(
        "how a gradual send's daily volume grows (fixed: it stays the same)", tuple(GRADUAL_STRATEGIES)
    )
    dailyBatchSize: int | None = Field(
        None, description="the first day's volume of a gradual send", json_schema_extra={"minimum": 1}
    )
    timezone: str | None = _text("IANA time zone of a gradual send's days, such as Europe/Paris")
