"""POST /v1/mails/bulk and GET /v1/mails/{id}/status over HTTP on both databases."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from sendhouse.domain.times import utcnow
from sendhouse.store.schema.campaigns import messages
from tests.integration.test_mails_send import ledger, mail, suppress

BULK = "/v1/mails/bulk"


def bulk(n: int = 3, **extra) -> dict:
    shared = {k: v for k, v in mail(dynamicData={"plan": "free", "name": "friend"}).items() if k != "to"}
    people = [
        {"email": f"u{i}@example.org", "name": f"U{i}", "dynamicData": {"name": f"U{i}"}} for i in range(n)
    ]
    return {**shared, "recipients": people, **extra}


async def test_bulk_queues_one_email_per_recipient_with_merged_data(api, tenant):
    response = await api.client.post(BULK, json=bulk(3), headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert uuid.UUID(data["batchId"]).version == 4
    assert (data["totalRecipients"], data["successCount"], data["failedCount"]) == (3, 3, 0)
    rows = await ledger(api, tenant.project_id)
    assert [r["email"] for r in rows] == ["u0@example.org", "u1@example.org", "u2@example.org"]
    assert [r["id"] for r in rows] == data["emailIds"]
    assert all(
        (r["kind"], r["priority"], r["batch_id"], r["status"])
        == ("transactional", 10, data["batchId"], "queued")
        for r in rows
    )
    assert [r["payload"]["dynamicData"] for r in rows] == [
        {"plan": "free", "name": f"U{i}"} for i in range(3)
    ]
    assert "content" in rows[0]["payload"]
    assert rows[1]["payload"]["contentRowId"] == rows[2]["payload"]["contentRowId"] == rows[0]["id"]
    assert rows[2]["payload"]["to"] == [{"email": "u2@example.org", "name": "U2"}]


async def test_bulk_shared_cc_goes_with_every_email(api, tenant):
    data = (
        await api.client.post(BULK, json=bulk(2, cc=[{"email": "boss@example.org"}]), headers=tenant.headers)
    ).json()["data"]
    assert data["successCount"] == 2
    rows = await ledger(api, tenant.project_id)
    assert sorted(r["email"] for r in rows) == [
        "boss@example.org",
        "boss@example.org",
        "u0@example.org",
        "u1@example.org",
    ]


async def test_bulk_counts_suppressed_recipients_as_failed(api, tenant):
    await suppress(api, tenant.project_id, "u1@example.org")
    data = (await api.client.post(BULK, json=bulk(3), headers=tenant.headers)).json()["data"]
    assert (data["totalRecipients"], data["successCount"], data["failedCount"]) == (3, 2, 1)
    statuses = {r["email"]: r["status"] for r in await ledger(api, tenant.project_id)}
    assert statuses["u1@example.org"] == "suppressed"
    bypassed = (
        await api.client.post(BULK, json=bulk(3, bypassSuppressions=True), headers=tenant.headers)
    ).json()
    assert bypassed["data"]["successCount"] == 3


async def test_bulk_recipient_limit_at_and_beyond_100(api, tenant):
    at = await api.client.post(BULK, json=bulk(100), headers=tenant.headers)
    assert at.status_code == 200 and at.json()["data"]["successCount"] == 100
    beyond = await api.client.post(BULK, json=bulk(101), headers=tenant.headers)
    assert beyond.status_code == 400
    assert beyond.json()["error"]["details"] == [
        {"field": "recipients", "message": "at most 100 recipients per request"}
    ]
    assert len(await ledger(api, tenant.project_id)) == 100


@pytest.mark.parametrize(
    "change, field",
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": [{"email": "nope"}]}, "recipients[0].email"),
        ({"recipients": [{"name": "no email"}]}, "recipients[0].email"),
        ({"recipients": [{"email": 123}, {"email": "fine@example.org"}]}, "recipients[0].email"),
        (
            {"recipients": [{"email": "a@"}, {"email": "b@example.org", "cc": "not a list"}]},
            "recipients[1].cc.Address",
        ),
        ({"recipients": "u@example.org"}, "recipients"),
        ({"headers": {"Subject": "x"}}, "headers.Subject"),
        ({"from": None}, "from"),
    ],
)
async def test_bulk_bad_input_is_400_and_changes_nothing(api, tenant, change, field):
    response = await api.client.post(BULK, json=bulk(2, **change), headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert any(d["field"] == field for d in response.json()["error"]["details"]), response.text
    assert await ledger(api, tenant.project_id) == []


async def test_bulk_queues_the_valid_recipients_and_reports_each_refused_one(api, tenant):
    people = [
        {"email": "ok0@example.org"},
        {"email": "not-an-address"},
        {"email": "ok2@example.org"},
        {"name": "no address"},
        {"email": "ok4@example.org", "cc": [{"email": "bad@"}]},
    ]
    response = await api.client.post(BULK, json=bulk(0, recipients=people), headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["totalRecipients"], data["successCount"], data["failedCount"]) == (5, 2, 3)
    assert [(f["index"], f["email"], f["code"]) for f in data["failures"]] == [
        (1, "not-an-address", "INVALID_RECIPIENT"),
        (3, None, "INVALID_RECIPIENT"),
        (4, "ok4@example.org", "INVALID_RECIPIENT"),
    ]
    assert data["failures"][0]["reason"].startswith("recipients[1].email: Invalid email format")
    assert data["failures"][1]["reason"] == "recipients[3].email: is required"
    assert data["failures"][2]["reason"].startswith("recipients[4].cc[0].email: Invalid email format")
    rows = await ledger(api, tenant.project_id)
    assert [r["email"] for r in rows] == ["ok0@example.org", "ok2@example.org"]
    assert [r["id"] for r in rows] == data["emailIds"]


async def test_bulk_refused_and_suppressed_recipients_are_both_failures(api, tenant):
    await suppress(api, tenant.project_id, "u2@example.org")
    people = [{"email": "u0@example.org"}, {"email": "x@@example.org"}, {"email": "u2@example.org"}]
    data = (await api.client.post(BULK, json=bulk(0, recipients=people), headers=tenant.headers)).json()[
        "data"
    ]
    assert (data["totalRecipients"], data["successCount"], data["failedCount"]) == (3, 1, 2)
    assert [(f["index"], f["email"], f["code"]) for f in data["failures"]] == [
        (1, "x@@example.org", "INVALID_RECIPIENT"),
        (2, "u2@example.org", "SUPPRESSED"),
    ]
    statuses = {r["email"]: r["status"] for r in await ledger(api, tenant.project_id)}
    assert statuses == {"u0@example.org": "queued", "u2@example.org": "suppressed"}


async def test_bulk_with_no_valid_recipient_is_400_listing_each(api, tenant):
    people = [{"email": "nope"}, {"email": "also@nope@"}]
    response = await api.client.post(BULK, json=bulk(0, recipients=people), headers=tenant.headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert [d["field"] for d in error["details"]] == ["recipients[0].email", "recipients[1].email"]
    assert await ledger(api, tenant.project_id) == []


async def test_bulk_broken_shared_field_still_refuses_the_whole_request(api, tenant):
    people = [{"email": "ok@example.org"}, {"email": "bad"}]
    response = await api.client.post(
        BULK, json=bulk(0, recipients=people, headers={"From": "x"}), headers=tenant.headers
    )
    assert response.status_code == 400
    assert [d["field"] for d in response.json()["error"]["details"]] == ["headers.From"]
    assert await ledger(api, tenant.project_id) == []


async def test_bulk_legacy_shape_refuses_only_the_broken_email(api, tenant):
    items = [mail(to={"email": "fine@example.org"}), mail(to={"email": "broken"})]
    data = (await api.client.post(BULK, json={"emails": items}, headers=tenant.headers)).json()["data"]
    assert (data["successCount"], data["failedCount"]) == (1, 1)
    assert data["failures"][0]["index"] == 1 and data["failures"][0]["email"] == "broken"
    assert [r["email"] for r in await ledger(api, tenant.project_id)] == ["fine@example.org"]


async def test_bulk_partial_result_replays_under_its_idempotency_key(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "partial-1"}
    body = bulk(0, recipients=[{"email": "a@example.org"}, {"email": "b@"}])
    first = await api.client.post(BULK, json=body, headers=headers)
    again = await api.client.post(BULK, json=body, headers=headers)
    assert again.json() == first.json() and first.json()["data"]["failedCount"] == 1
    assert len(await ledger(api, tenant.project_id)) == 1


async def test_bulk_idempotency(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "batch-7"}
    first = await api.client.post(BULK, json=bulk(2), headers=headers)
    again = await api.client.post(BULK, json=bulk(2), headers=headers)
    assert again.json() == first.json()
    reused = await api.client.post(BULK, json=bulk(3), headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await ledger(api, tenant.project_id)) == 2


async def test_bulk_accepts_autosendjs_1_0_1_shape(api, tenant):
    items = [{**mail(to={"email": f"old{i}@example.org"}), "variables": {"n": i}} for i in range(2)]
    for item in items:
        del item["dynamicData"]
    data = (await api.client.post(BULK, json={"emails": items}, headers=tenant.headers)).json()["data"]
    assert data["successCount"] == 2 and len(data["emailIds"]) == 2
    rows = await ledger(api, tenant.project_id)
    assert [r["payload"]["dynamicData"] for r in rows] == [{"n": 0}, {"n": 1}]
    assert all("content" in r["payload"] for r in rows)


async def test_bulk_auth(api, tenant):
    assert (await api.client.post(BULK, json=bulk(1))).status_code == 401
    assert (
        await api.client.post(BULK, json=bulk(1), headers={"Authorization": "Bearer AS_x"})
    ).status_code == 401


async def test_status_of_a_queued_then_sent_email(api, tenant):
    email_id = (await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers)).json()["data"][
        "emailId"
    ]
    got = await api.client.get(f"/v1/mails/{email_id}/status", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json()["data"] == {
        "id": email_id,
        "projectId": tenant.project_id,
        "status": "queued",
        "subject": "Hello {{name}}",
        "recipient": {"email": "ann@example.org", "name": "Ann"},
        "sender": {"email": "app@example.com", "name": "App"},
        "sentAt": None,
        "deliveredAt": None,
        "openedAt": None,
        "clickedAt": None,
        "bouncedAt": None,
    }
    sent_at = utcnow()
    async with api.db.write() as conn:
        await conn.execute(
            messages.update().where(messages.c.id == email_id).values(status="sent", sent_at=sent_at)
        )
    data = (await api.client.get(f"/v1/mails/{email_id}/status", headers=tenant.headers)).json()["data"]
    assert data["status"] == "sent" and data["sentAt"].startswith(sent_at.strftime("%Y-%m-%dT%H:%M:%S"))


async def test_status_of_a_cc_row_reads_the_shared_content(api, tenant):
    await api.client.post(
        "/v1/mails/send", json=mail(cc=[{"email": "cc@example.org"}]), headers=tenant.headers
    )
    async with api.db.read() as conn:
        cc_id = (
            await conn.execute(sa.select(messages.c.id).where(messages.c.email == "cc@example.org"))
        ).scalar_one()
    data = (await api.client.get(f"/v1/mails/{cc_id}/status", headers=tenant.headers)).json()["data"]
    assert data["subject"] == "Hello {{name}}" and data["recipient"]["email"] == "cc@example.org"


async def test_status_of_a_bounced_email(api, tenant):
    email_id = (await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers)).json()["data"][
        "emailId"
    ]
    async with api.db.write() as conn:
        await conn.execute(
            messages.update().where(messages.c.id == email_id).values(status="bounced", failed_at=utcnow())
        )
    data = (await api.client.get(f"/v1/mails/{email_id}/status", headers=tenant.headers)).json()["data"]
    assert data["status"] == "bounced" and data["bouncedAt"] is not None


async def test_status_not_found_other_project_and_auth(api, tenant, other_tenant):
    email_id = (await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers)).json()["data"][
        "emailId"
    ]
    for headers, mail_id in (
        (other_tenant.headers, email_id),
        (tenant.headers, "0" * 24),
        (tenant.headers, "x"),
    ):
        response = await api.client.get(f"/v1/mails/{mail_id}/status", headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "EMAIL_NOT_FOUND"
    assert (await api.client.get(f"/v1/mails/{email_id}/status")).status_code == 401
    wrong = await api.client.get(f"/v1/mails/{email_id}/status", headers={"Authorization": "Bearer AS_zz"})
    assert wrong.status_code == 401
