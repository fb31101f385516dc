"""Confirmation tokens of previewed MCP actions (send_campaign, send_test_email), each used once.

The token itself (domain/confirmations.py) proves which preview it came from and until when it is
valid; this service also remembers that it was used (a kv_state row named by the token's hash,
added in its own write transaction, the first concurrent caller wins), so a replayed call within
the token's 5 minutes acts no second time. A token used by a call that then fails is spent all the
same: preview again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sendhouse.domain import confirmations
from sendhouse.errors import InvalidOperation
from sendhouse.store import kv
from sendhouse.store.db import Database

USED_PREFIX = "confirmation-used:"


async def use_once(
    db: Database,
    secret: str,
    token: str | None,
    action: str,
    scope: tuple[str, str, str],
    now: datetime,
) -> None:
    """Pass when `token` confirms `action` on scope (project, campaign, binding) now and was never
    used; InvalidOperation otherwise (CONFIRMATION_TOKEN_USED for a second use)."""
    project_id, campaign_id, binding = scope
    confirmations.check(secret, token, action, project_id, campaign_id, binding, now)
    key = USED_PREFIX + hashlib.sha256((token or "").encode()).hexdigest()
    async with db.write() as conn:
        if not await kv.add_text(conn, key, action, now):
            raise InvalidOperation(
                "This confirmationToken was already used; preview again for a new one",
                code="CONFIRMATION_TOKEN_USED",
            )
