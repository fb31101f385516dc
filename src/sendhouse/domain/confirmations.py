"""Confirmation tokens of MCP actions that send mail (send_campaign, send_test_email).

The preview answers a token signed with the secret key (its own token kind) binding the action,
the project, the campaign, what the preview showed (the audience count, or the test addresses)
and an expiry TTL_SECONDS ahead. Only a second call carrying that token acts, and only while the
binding still holds: a token of another campaign, action or project, a forged or expired one, or
an audience that changed since the preview is refused, so nothing is sent on a first call.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sendhouse.domain import tokens
from sendhouse.domain.emails import key_of
from sendhouse.errors import InvalidOperation

KIND = "mcp-confirm"
TTL_SECONDS = 300


def binding_of_addresses(emails: list[str]) -> str:
    """What a test send binds: the set of addresses (order and case ignored)."""
    joined = "\n".join(sorted({key_of(e) for e in emails}))
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


def issue(secret: str, action: str, project_id: str, campaign_id: str, binding: str, now: datetime) -> str:
    """The token a preview hands out, valid for TTL_SECONDS."""
    expires = str(int(now.timestamp()) + TTL_SECONDS)
    return tokens.sign_web(secret, KIND, (action, project_id, campaign_id, binding, expires))


def check(
    secret: str,
    token: str | None,
    action: str,
    project_id: str,
    campaign_id: str,
    binding: str,
    now: datetime,
) -> None:
    """Pass silently when `token` confirms exactly this action now; InvalidOperation otherwise."""
    if not token:
        raise InvalidOperation(
            f"{action} needs the confirmationToken of a preview: call it first without "
            "confirmed, show the preview, then call again with confirmed=true and the token",
            code="CONFIRMATION_TOKEN_REQUIRED",
        )
    fields = tokens.verify_web(secret, KIND, token, 5)
    if fields is None or fields[:3] != (action, project_id, campaign_id) or not fields[4].isdigit():
        raise InvalidOperation(
            "The confirmationToken is not one of this action's previews", code="CONFIRMATION_TOKEN_INVALID"
        )
    if int(fields[4]) < now.timestamp():
        raise InvalidOperation(
            f"The confirmationToken expired ({TTL_SECONDS} s after its preview); preview again",
            code="CONFIRMATION_TOKEN_EXPIRED",
        )
    if fields[3] != binding:
        raise InvalidOperation(
            "What would be sent changed since the preview (audience or addresses); preview again",
            code="CONFIRMATION_STALE",
        )
