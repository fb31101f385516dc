"""Idempotency-Key on every route that takes it, on both databases: replay with
`Idempotent-Replayed: true`, another body refused, concurrent requests, and a failure in the middle
of the work (database error, cancellation as on a client disconnect, any exception) leaving no key."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from sendhouse.services import idempotency, transactional
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.store.schema.core import idempotency_keys

MAIL = {
    "from": {"email": "app@example.com"},
    "to": {"email": "ann@example.org"},
    "subject": "Hi",
    "html": "<p>x</p>",
}
BULK = {
    "from": {"email": "app@example.com"},
    "subject": "Hi",
    "html": "<p>x</p>",
    "recipients": [{"email": "ann@example.org"}, {"email": "bob@example.org"}],
}
CAMPAIGN = {"name": "Launch", "subject": "Hello", "htmlTemplate": "<p>Hi</p>"}
ROUTES = [
    ("/v1/mails/send", MAIL, {**MAIL, "subject": "Other"}),
    ("/v1/mails/bulk", BULK, {**BULK, "subject": "Other"}),
    ("/v1/campaigns", CAMPAIGN, {**CAMPAIGN, "name": "Other"}),
]


async def count(api, table) -> int:
    async with api.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def effects(api) -> tuple[int, int]:
    return await count(api, messages), await count(api, campaigns)


@pytest.mark.parametrize(("path", "body", "other"), ROUTES, ids=["send", "bulk", "campaigns"])
async def test_replay_carries_the_header_and_another_body_is_refused(api, tenant, path, body, other):
    headers = {**tenant.headers, "Idempotency-Key": "k-1"}
    first = await api.client.post(path, json=body, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    done = await effects(api)
    again = await api.client.post(path, json=body, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    refused = await api.client.post(path, json=other, headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await effects(api) == done and await count(api, idempotency_keys) == 1


@pytest.mark.parametrize(("path", "body", "_other"), ROUTES, ids=["send", "bulk", "campaigns"])
async def test_concurrent_requests_with_one_key_do_the_work_once(api, tenant, path, body, _other):
    headers = {**tenant.headers, "Idempotency-Key": "race"}
    answers = await asyncio.gather(*(api.client.post(path, json=body, headers=headers) for _ in range(4)))
    assert {a.status_code for a in answers} == {200}
    assert all(a.json() == answers[0].json() for a in answers)
    assert sum("idempotent-replayed" not in a.headers for a in answers) == 1
    single = await api.client.post(path, json=body, headers={**tenant.headers, "Idempotency-Key": "alone"})
    assert single.status_code == 200
    assert await count(api, idempotency_keys) == 2
    messages_now, campaigns_now = await effects(api)
    assert (messages_now, campaigns_now) in ((4, 0), (2, 0), (0, 2))  # each route's work done twice in all


FAILURES = [
    OperationalError("INSERT", {}, Exception("connection lost")),
    asyncio.CancelledError(),
    RuntimeError("boom"),
]


@pytest.mark.parametrize("failure", FAILURES, ids=["database-error", "cancelled", "exception"])
async def test_a_failure_in_the_middle_leaves_no_key(api, tenant, monkeypatch, failure):
    real_insert = idempotency.store.insert

    async def insert_then_fail(conn, row):
        await real_insert(conn, row)  # the key row and the work's rows are written, then the work fails
        raise failure

    monkeypatch.setattr(idempotency.store, "insert", insert_then_fail)
    key = idempotency.key_for(
        api_key_id="k", project_id=tenant.project_id, route="POST /v1/mails/send", key="k-1", body=b"{}"
    )

    async def work(k):
        return await transactional.send_mail(
            api.db, api.container.settings, tenant.project_id, dict(MAIL), idempotency_record=k
        )

    with pytest.raises(type(failure)):
        await idempotency.once(api.db, key, work)
    assert await count(api, idempotency_keys) == 0 and await effects(api) == (0, 0)
    monkeypatch.setattr(idempotency.store, "insert", real_insert)
    first = await idempotency.once(api.db, key, work)
    again = await idempotency.once(api.db, key, work)
    assert not first.replayed and again.replayed and again.data == first.data
    assert await effects(api) == (1, 0)


@pytest.mark.parametrize(("path", "body", "_other"), ROUTES, ids=["send", "bulk", "campaigns"])
async def test_a_refused_request_leaves_the_key_free(api, tenant, path, body, _other):
    headers = {**tenant.headers, "Idempotency-Key": "k-2"}
    bad = await api.client.post(path, json={**body, "subject": ""}, headers=headers)
    assert bad.status_code == 400 and await count(api, idempotency_keys) == 0
    good = await api.client.post(path, json=body, headers=headers)
    assert good.status_code == 200 and "idempotent-replayed" not in good.headers
