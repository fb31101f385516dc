"""SMTP submission as a use case: a message an app handed to the submission server becomes a
transactional email in the ledger (services/transactional), committed before the server answers 250.
The message is parsed once, in a thread."""

from __future__ import annotations

import asyncio

from sendhouse.config import Settings
from sendhouse.domain import inbound_mail, submitted
from sendhouse.services import transactional
from sendhouse.store.db import Database


async def submit(db: Database, settings: Settings, project_id: str, *, mail_from: str, rcpts: list[str],
                 raw: bytes) -> str:
    """Queue the message for the envelope recipients; its email id. Raises sendhouse.errors on
    refusal (e.g. InvalidOperation VERIFIED_DOMAIN_REQUIRED), anything else on storage failure."""
    parsed = await asyncio.to_thread(inbound_mail.parse, raw)
    body = submitted.send_request(parsed, mail_from, rcpts)
    sent = await transactional.send_mail(db, settings, project_id, body,
                                         message_id=submitted.kept_message_id(parsed))
    return sent["emailId"]
