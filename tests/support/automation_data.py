"""Helpers for automation tests: making automations and contacts over HTTP, reading runs and the
mail each contact was given (ledger rows, oldest first)."""

from __future__ import annotations

import sqlalchemy as sa

from sendhouse.store.schema.automations import automation_runs, automation_steps_log
from sendhouse.store.schema.campaigns import messages

EMAIL = {"htmlTemplate": "<p>Hi {{first_name}}</p>", "subject": "Welcome", "senderEmail": "team@example.com"}


def series(*minutes: int) -> list[dict]:
    """wait → email pairs; the n-th email's subject is "Mail n"."""
    steps = []
    for n, delay in enumerate(minutes, 1):
        steps += [
            {"type": "wait", "stepId": f"wait_{n}", "delay": {"value": delay, "unit": "minutes"}},
            {"type": "email", "stepId": f"email_{n}", "email": {**EMAIL, "subject": f"Mail {n}"}},
        ]
    return steps


async def automation(api, tenant, **body) -> str:
    body = {"name": "Flow", "active": True, **body}
    response = await api.client.post("/v1/automations", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


async def contact(api, tenant, email: str, **fields) -> str:
    response = await api.client.post("/v1/contacts", json={"email": email, **fields}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"]


async def runs(db, automation_id: str) -> list[dict]:
    async with db.read() as conn:
        query = sa.select(automation_runs).where(automation_runs.c.automation_id == automation_id)
        return [
            dict(r) for r in (await conn.execute(query.order_by(automation_runs.c.entered_at))).mappings()
        ]


async def mail_by_email(db, automation_id: str) -> dict[str, list[str]]:
    """{address: [subjects of its automation mail, in creation order]} (a shared content is stored
    on the first row that uses it: contentRowId)."""
    query = (
        sa.select(messages.c.id, messages.c.email, messages.c.payload)
        .join(automation_steps_log, automation_steps_log.c.message_id == messages.c.id)
        .where(automation_steps_log.c.automation_id == automation_id)
        .order_by(messages.c.created_at, messages.c.id)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
        contents = {r.id: r.payload.get("content") for r in rows}
    found: dict[str, list[str]] = {}
    for _id, email, payload in rows:
        content = payload.get("content") or contents[payload["contentRowId"]]
        found.setdefault(email, []).append(content["subject"])
    return found


async def step_log_count(db, automation_id: str) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).where(automation_steps_log.c.automation_id == automation_id)
        return (await conn.execute(query)).scalar_one()
