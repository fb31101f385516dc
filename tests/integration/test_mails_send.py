"""POST /v1/mails/send over HTTP on both databases: ledger rows, suppression, templates, idempotency, errors."""

from __future__ import annotations

import base64

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.audience import suppression_groups, suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.core import idempotency_keys, projects
from sendhouse.store.templates import insert_template

SEND = "/v1/mails/send"


def mail(**extra) -> dict:
    base = {
        "from": {"email": "app@example.com", "name": "App"},
        "to": {"email": "ann@example.org", "name": "Ann"},
        "subject": "Hello {{name}}",
        "html": "<p>Hi {{name}}</p>",
        "dynamicData": {"name": "Ann"},
    }
    return {**base, **extra}


async def ledger(api, project_id: str) -> list[dict]:
    async with api.db.read() as conn:
        query = sa.select(messages).where(messages.c.project_id == project_id).order_by(messages.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def suppress(api, project_id: str, email: str, *, code: str = "GLOBL", is_global: bool = True) -> None:
    """Put an address in a suppression group of the project (the group is made when missing)."""
    now = utcnow()
    async with api.db.write() as conn:
        group_id = (
            await conn.execute(
                sa.select(suppression_groups.c.id).where(
                    suppression_groups.c.project_id == project_id, suppression_groups.c.group_code == code
                )
            )
        ).scalar()
        if group_id is None:
            group_id = ids.new_id()
            await conn.execute(
                suppression_groups.insert().values(
                    id=group_id,
                    project_id=project_id,
                    group_code=code,
                    name=code,
                    is_global=is_global,
                    created_at=now,
                    updated_at=now,
                )
            )
        await conn.execute(
            suppressions.insert().values(
                id=ids.new_id(),
                project_id=project_id,
                group_id=group_id,
                email=email,
                reason="UNSUBSCRIBE",
                created_at=now,
                updated_at=now,
            )
        )


async def test_send_queues_one_transactional_row(api, tenant):
    response = await api.client.post(SEND, json=mail(), headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["message"] == "Email queued successfully." and data["totalRecipients"] == 1
    [row] = await ledger(api, tenant.project_id)
    assert row["id"] == data["emailId"] and ids.is_object_id(row["id"])
    assert (row["kind"], row["priority"], row["status"], row["campaign_id"], row["batch_id"]) == (
        "transactional",
        10,
        "queued",
        None,
        None,
    )
    assert row["email"] == "ann@example.org" and row["name"] == "Ann"
    assert row["message_id_header"] == f"<{row['id']}@example.com>"
    assert row["next_attempt_at"] <= utcnow()
    content = row["payload"]["content"]
    assert content["from"] == {"email": "app@example.com", "name": "App"}
    assert (content["subject"], content["html"]) == ("Hello {{name}}", "<p>Hi {{name}}</p>")
    assert row["payload"]["dynamicData"] == {"name": "Ann"} and row["payload"]["role"] == "to"


async def test_cc_and_bcc_get_rows_of_their_own_sharing_the_content(api, tenant):
    body = mail(
        cc=[{"email": "cc1@example.org"}, {"email": "cc2@example.org"}], bcc=[{"email": "bcc@example.org"}]
    )
    data = (await api.client.post(SEND, json=body, headers=tenant.headers)).json()["data"]
    assert data["totalRecipients"] == 4
    rows = await ledger(api, tenant.project_id)
    by_email = {r["email"]: r for r in rows}
    assert sorted(by_email) == ["ann@example.org", "bcc@example.org", "cc1@example.org", "cc2@example.org"]
    assert {r["payload"]["role"] for r in rows} == {"to", "cc", "bcc"}
    assert all(r["payload"]["emailId"] == data["emailId"] for r in rows)
    assert len({r["message_id_header"] for r in rows}) == 4
    for email in ("cc1@example.org", "bcc@example.org"):
        assert by_email[email]["payload"]["contentRowId"] == data["emailId"]
        assert "content" not in by_email[email]["payload"]
    assert by_email["bcc@example.org"]["payload"]["cc"] == [
        {"email": "cc1@example.org", "name": None},
        {"email": "cc2@example.org", "name": None},
    ]


async def test_sdk_shapes_to_list_and_single_cc_object(api, tenant):
    body = mail(to=[{"email": "a@example.org"}, {"email": "b@example.org"}], cc={"email": "c@example.org"})
    data = (await api.client.post(SEND, json=body, headers=tenant.headers)).json()["data"]
    assert data["totalRecipients"] == 3
    rows = await ledger(api, tenant.project_id)
    assert sorted(r["payload"]["role"] for r in rows) == ["cc", "to", "to"]


async def test_tracking_defaults_come_from_the_project(api, tenant):
    async with api.db.write() as conn:
        await conn.execute(
            projects.update()
            .where(projects.c.id == tenant.project_id)
            .values(tracking_open=False, tracking_click=True)
        )
    await api.client.post(SEND, json=mail(), headers=tenant.headers)
    await api.client.post(SEND, json=mail(trackingOpen=True, trackingClick=False), headers=tenant.headers)
    first, second = [r["payload"]["content"] for r in await ledger(api, tenant.project_id)]
    assert (first["trackingOpen"], first["trackingClick"]) == (False, True)
    assert (second["trackingOpen"], second["trackingClick"]) == (True, False)


async def test_headers_and_attachments_are_kept_in_the_payload(api, tenant):
    content = base64.b64encode(b"%PDF-1.4 tiny").decode()
    body = mail(
        headers={"X-Order": "42"},
        attachments=[{"fileName": "inv.pdf", "content": content, "contentType": "application/pdf"}],
    )
    assert (await api.client.post(SEND, json=body, headers=tenant.headers)).status_code == 200
    [row] = await ledger(api, tenant.project_id)
    assert row["payload"]["content"]["headers"] == {"X-Order": "42"}
    [attachment] = row["payload"]["content"]["attachments"]
    assert (attachment["fileName"], attachment["content"], attachment["contentType"]) == (
        "inv.pdf",
        content,
        "application/pdf",
    )


async def test_python_sdk_filename_spelling_of_an_attachment(api, tenant):
    content = base64.b64encode(b"hello").decode()
    body = mail(attachments=[{"filename": "note.txt", "content": content}])
    assert (await api.client.post(SEND, json=body, headers=tenant.headers)).status_code == 200
    [row] = await ledger(api, tenant.project_id)
    assert row["payload"]["content"]["attachments"][0]["fileName"] == "note.txt"
    blocked = await api.client.post(
        SEND, json=mail(attachments=[{"filename": "x.exe", "content": content}]), headers=tenant.headers
    )
    assert (
        blocked.status_code == 400
        and blocked.json()["error"]["details"][0]["field"] == "attachments[0].fileName"
    )
    nameless = await api.client.post(
        SEND, json=mail(attachments=[{"content": content}]), headers=tenant.headers
    )
    assert nameless.status_code == 400
    assert len(await ledger(api, tenant.project_id)) == 1


async def test_template_content_is_resolved_at_send(api, tenant):
    now = utcnow()
    async with api.db.write() as conn:
        await insert_template(
            conn,
            {
                "id": "A-0123456789abcdef0123",
                "project_id": tenant.project_id,
                "name": "t",
                "subject": "Welcome {{name}}",
                "html": "<b>{{name}}</b>",
                "plain_text": "{{name}}",
                "created_at": now,
                "updated_at": now,
            },
        )
    body = {
        k: v for k, v in mail(templateId="A-0123456789abcdef0123").items() if k not in ("subject", "html")
    }
    assert (await api.client.post(SEND, json=body, headers=tenant.headers)).status_code == 200
    [row] = await ledger(api, tenant.project_id)
    content = row["payload"]["content"]
    assert (content["subject"], content["html"], content["text"]) == (
        "Welcome {{name}}",
        "<b>{{name}}</b>",
        "{{name}}",
    )
    assert content["templateId"] == "A-0123456789abcdef0123"


async def test_unknown_or_other_projects_template_is_not_found(api, tenant, other_tenant):
    now = utcnow()
    async with api.db.write() as conn:
        await insert_template(
            conn,
            {
                "id": "A-ffffffffffffffffffff",
                "project_id": other_tenant.project_id,
                "name": "t",
                "subject": "s",
                "html": "h",
                "created_at": now,
                "updated_at": now,
            },
        )
    for template_id in ("A-ffffffffffffffffffff", "A-00000000000000000000"):
        response = await api.client.post(SEND, json=mail(templateId=template_id), headers=tenant.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"
    assert await ledger(api, tenant.project_id) == []


async def test_globally_suppressed_to_is_not_queued_and_takes_its_cc_along(api, tenant):
    await suppress(api, tenant.project_id, "ANN@example.org")
    body = mail(cc=[{"email": "cc@example.org"}], bcc=[{"email": "bcc@example.org"}])
    data = (await api.client.post(SEND, json=body, headers=tenant.headers)).json()["data"]
    assert data["totalRecipients"] == 0
    rows = await ledger(api, tenant.project_id)
    assert {r["email"]: r["status"] for r in rows} == {
        "ann@example.org": "suppressed",
        "cc@example.org": "suppressed",
        "bcc@example.org": "suppressed",
    }
    status = (await api.client.get(f"/v1/mails/{data['emailId']}/status", headers=tenant.headers)).json()[
        "data"
    ]
    assert status["status"] == "suppressed"


async def test_suppressed_cc_alone_is_skipped(api, tenant):
    await suppress(api, tenant.project_id, "cc@example.org")
    body = mail(cc=[{"email": "cc@example.org"}, {"email": "ok@example.org"}])
    data = (await api.client.post(SEND, json=body, headers=tenant.headers)).json()["data"]
    assert data["totalRecipients"] == 2
    statuses = {r["email"]: r["status"] for r in await ledger(api, tenant.project_id)}
    assert statuses == {
        "ann@example.org": "queued",
        "cc@example.org": "suppressed",
        "ok@example.org": "queued",
    }


async def test_group_suppression_applies_only_with_that_group(api, tenant):
    await suppress(api, tenant.project_id, "ann@example.org", code="NEWS1", is_global=False)
    await suppress(api, tenant.project_id, "zed@example.org", code="OTHER", is_global=False)
    without = (await api.client.post(SEND, json=mail(), headers=tenant.headers)).json()["data"]
    grouped = (
        await api.client.post(SEND, json=mail(unsubscribeGroupId="NEWS1"), headers=tenant.headers)
    ).json()
    assert without["totalRecipients"] == 1 and grouped["data"]["totalRecipients"] == 0
    unknown = await api.client.post(SEND, json=mail(unsubscribeGroupId="NOPE9"), headers=tenant.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "GROUP_NOT_FOUND"


async def test_python_sdk_unsubscribe_object_names_the_group(api, tenant):
    await suppress(api, tenant.project_id, "ann@example.org", code="NEWS1", is_global=False)
    grouped = await api.client.post(
        SEND,
        json=mail(unsubscribe={"url": "https://x.example/u", "groupId": "NEWS1"}),
        headers=tenant.headers,
    )
    assert grouped.status_code == 200 and grouped.json()["data"]["totalRecipients"] == 0
    both = mail(unsubscribe={"groupId": "NOPE9"}, unsubscribeGroupId="NEWS1")  # the documented field wins
    assert (await api.client.post(SEND, json=both, headers=tenant.headers)).json()["data"][
        "totalRecipients"
    ] == 0
    wrong = await api.client.post(SEND, json=mail(unsubscribe={"groupId": 5}), headers=tenant.headers)
    assert wrong.status_code == 400


async def test_bypass_suppressions_queues_anyway(api, tenant):
    await suppress(api, tenant.project_id, "ann@example.org")
    data = (await api.client.post(SEND, json=mail(bypassSuppressions=True), headers=tenant.headers)).json()[
        "data"
    ]
    assert data["totalRecipients"] == 1
    [row] = await ledger(api, tenant.project_id)
    assert row["status"] == "queued" and row["payload"]["content"]["bypassSuppressions"] is True


async def test_another_projects_suppression_does_not_apply(api, tenant, other_tenant):
    await suppress(api, other_tenant.project_id, "ann@example.org")
    data = (await api.client.post(SEND, json=mail(), headers=tenant.headers)).json()["data"]
    assert data["totalRecipients"] == 1


async def test_idempotency_key_replays_and_refuses_another_body(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "order-42"}
    first = await api.client.post(SEND, json=mail(), headers=headers)
    again = await api.client.post(SEND, json=mail(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(await ledger(api, tenant.project_id)) == 1
    other = await api.client.post(SEND, json=mail(subject="different"), headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await ledger(api, tenant.project_id)) == 1


async def test_idempotency_key_of_a_failed_request_can_be_retried(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "k-1"}
    bad = await api.client.post(SEND, json=mail(templateId="A-00000000000000000000"), headers=headers)
    assert bad.status_code == 404
    async with api.db.read() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(idempotency_keys))
        ).scalar_one() == 0
    good = await api.client.post(SEND, json=mail(), headers=headers)
    assert good.status_code == 200 and len(await ledger(api, tenant.project_id)) == 1


async def test_idempotency_keys_are_per_api_key(api, tenant, other_tenant):
    await api.client.post(SEND, json=mail(), headers={**tenant.headers, "Idempotency-Key": "same"})
    response = await api.client.post(
        SEND, json=mail(), headers={**other_tenant.headers, "Idempotency-Key": "same"}
    )
    assert response.status_code == 200
    assert len(await ledger(api, other_tenant.project_id)) == 1


async def test_idempotency_key_length_bound(api, tenant):
    ok = await api.client.post(SEND, json=mail(), headers={**tenant.headers, "Idempotency-Key": "k" * 256})
    too_long = await api.client.post(
        SEND, json=mail(), headers={**tenant.headers, "Idempotency-Key": "k" * 257}
    )
    assert ok.status_code == 200 and too_long.status_code == 400
    assert too_long.json()["error"]["details"][0]["field"] == "Idempotency-Key"


async def test_missing_and_wrong_key_are_401(api, tenant):
    assert (await api.client.post(SEND, json=mail())).status_code == 401
    wrong = await api.client.post(SEND, json=mail(), headers={"Authorization": "Bearer AS_wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHORIZED"
    assert await ledger(api, tenant.project_id) == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"to": "ann@example.org"}, "to"),
        ({"from": {"email": 5}}, "from.email"),
        ({"subject": 12}, "subject"),
        ({"trackingOpen": "yes"}, "trackingOpen"),
        ({"bypassSuppressions": 1}, "bypassSuppressions"),
        ({"headers": {"X-N": 1}}, "headers.X-N"),
        ({"attachments": {"fileName": "a"}}, "attachments"),
        ({"dynamicData": [1]}, "dynamicData"),
    ],
)
async def test_wrong_types_are_400_and_change_nothing(api, tenant, change, field):
    response = await api.client.post(SEND, json=mail(**change), headers=tenant.headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert any(d["field"].startswith(field) for d in error["details"]), error
    assert await ledger(api, tenant.project_id) == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"subject": "s" * 999}, "subject"),
        ({"headers": {"Reply-To": "x@example.org"}}, "headers.Reply-To"),
        ({"headers": {"x-ses-message-tags": "a"}}, "headers.x-ses-message-tags"),
        ({"attachments": [{"fileName": "tool.exe", "content": "eA=="}]}, "attachments[0].fileName"),
        ({"attachments": [{"fileName": "a.txt", "content": "!!"}]}, "attachments[0].content"),
        ({"cc": [{"email": f"c{i}@example.org"} for i in range(50)]}, "to"),
        ({"from": None}, "from"),
        ({"html": None}, "html"),
    ],
)
async def test_rule_violations_are_400_and_change_nothing(api, tenant, change, field):
    response = await api.client.post(SEND, json=mail(**change), headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert await ledger(api, tenant.project_id) == []


async def test_limits_at_the_bound_are_accepted(api, tenant):
    body = mail(
        subject="s" * 998,
        headers={f"X-H{i}": "v" * 1000 for i in range(20)},
        cc=[{"email": f"c{i}@example.org"} for i in range(49)],
    )
    response = await api.client.post(SEND, json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["totalRecipients"] == 50
