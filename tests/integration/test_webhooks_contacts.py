"""contact.created / contact.updated (changedFields) / contact.deleted webhooks from the contacts API."""

from __future__ import annotations

import orjson
from standardwebhooks import Webhook

from sendhouse.services import webhooks as service
from tests.support.http_receiver import HttpReceiver

EVENTS = ["contact.created", "contact.updated", "contact.deleted"]


async def test_contact_changes_are_delivered_in_order(api, tenant):
    dispatcher = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
    with HttpReceiver() as receiver:
        hook = (
            await api.client.post(
                "/v1/webhooks", json={"url": receiver.url(), "events": EVENTS}, headers=tenant.headers
            )
        ).json()["data"]["webhook"]
        created = await api.client.post(
            "/v1/contacts", json={"email": "ann@example.com", "firstName": "Ann"}, headers=tenant.headers
        )
        contact_id = created.json()["data"]["id"]
        same = {"email": "ann@example.com", "firstName": "Ann"}
        await api.client.post("/v1/contacts/email", json=same, headers=tenant.headers)  # no change: no event
        await api.client.post("/v1/contacts/email", json={**same, "lastName": "Lee"}, headers=tenant.headers)
        await api.client.delete(f"/v1/contacts/{contact_id}", headers=tenant.headers)
        while await dispatcher.run_once():
            pass
        await dispatcher.close()
        got = receiver.wait_for(3)
    bodies = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in got]
    by_type = {b["type"]: b["data"] for b in bodies}
    assert sorted(by_type) == sorted(EVENTS) and len(got) == 3
    assert by_type["contact.created"] == {"contactId": contact_id, "email": "ann@example.com", "name": "Ann"}
    assert by_type["contact.updated"] == {
        "contactId": contact_id,
        "email": "ann@example.com",
        "name": "Ann Lee",
        "changedFields": ["lastName"],
    }
    assert by_type["contact.deleted"]["contactId"] == contact_id
    assert [
        orjson.loads(r.body)["type"] for r in sorted(got, key=lambda r: r.headers["webhook-id"])
    ] == EVENTS


async def test_a_refused_contact_change_emits_nothing(api, tenant):
    hook = (
        await api.client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/c", "events": EVENTS},
            headers=tenant.headers,
        )
    ).json()["data"]["webhook"]
    await api.client.post("/v1/contacts", json={"email": "bo@example.com"}, headers=tenant.headers)
    again = await api.client.post("/v1/contacts", json={"email": "bo@example.com"}, headers=tenant.headers)
    assert again.status_code == 409
    missing = await api.client.delete(f"/v1/contacts/{'0' * 24}", headers=tenant.headers)
    assert missing.status_code == 404
    logs = (await api.client.get(f"/v1/webhooks/{hook['id']}/logs", headers=tenant.headers)).json()["data"]
    assert [entry["event"] for entry in logs["logs"]] == ["contact.created"]
