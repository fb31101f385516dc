"""Bounces and complaints on both databases: DSNs and ARF reports delivered over SMTP to the inbound
receiver at the VERP return path, POST /v1/inbound/bounce (auth, limits, other projects), soft
bounce counting, webhooks, and the auto-pause of a campaign whose bounce rate crosses its preset."""

from __future__ import annotations

import aiosmtplib
import pytest

from sendhouse.store.schema.campaigns import campaigns
from tests.support.feedback_data import (
    bounce_rcpt,
    deliveries,
    events_of,
    inbound_receiver,
    row_status,
    sent_campaign,
    smtp_deliver,
    subscribe_all,
    suppressed,
)
from tests.support.reports import arf, dsn
from tests.support.sending_data import campaign_row

INBOUND = "/v1/inbound/bounce"


async def _global_code(api, tenant) -> str:
    groups = (await api.client.get("/v1/suppression-groups", headers=tenant.headers)).json()["data"]["groups"]
    return next(g["groupId"] for g in groups if g["isGlobal"])


async def test_hard_dsn_over_smtp_bounces_the_row_and_suppresses(api, tenant, container):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 3)
    await subscribe_all(api.db, tenant.project_id)
    row = rows[0]
    async with inbound_receiver(container) as (_h, port):
        for _ in range(2):  # a DSN delivered twice counts once
            await smtp_deliver(
                port,
                bounce_rcpt(row["id"]),
                dsn(to=bounce_rcpt(row["id"]), recipient=row["email"], message_id=row["message_id_header"]),
            )
    assert await row_status(api.db, row["id"]) == "bounced"
    assert await suppressed(api.db, tenant.project_id) == {
        (row["email"], await _global_code(api, tenant), "BOUNCE")
    }
    [event] = await events_of(api.db, type="bounced")
    assert (event["message_id"], event["detail"]["status"], event["detail"]["source"]) == (
        row["id"],
        "5.1.1",
        "dsn",
    )
    [(name, data)] = await deliveries(api.db, tenant.project_id)
    assert name == "email.bounced" and data["emailId"] == row["id"] and data["to"]["email"] == row["email"]
    assert (data["bounceType"], data["bounceSubType"]) == ("Permanent", "NoEmail") and "User unknown" in data[
        "reason"
    ]
    counts = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()["data"][
        "counts"
    ]
    assert (counts["sent"], counts["delivered"], counts["bounced"]) == (3, 2, 1)


async def test_soft_bounces_suppress_after_the_limit(api, tenant, container):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    row = rows[0]
    report = dsn(
        to=bounce_rcpt(row["id"]),
        recipient=row["email"],
        status="4.2.2",
        action="delayed",
        diagnostic="smtp; 452 4.2.2 Mailbox full",
    )
    async with inbound_receiver(container) as (_h, port):
        for _ in range(2):
            await smtp_deliver(port, bounce_rcpt(row["id"]), report)
        assert await suppressed(api.db, tenant.project_id) == set()  # limit is 3
        await smtp_deliver(port, bounce_rcpt(row["id"]), report)
    assert {(e, r) for e, _g, r in await suppressed(api.db, tenant.project_id)} == {(row["email"], "BOUNCE")}
    assert [e["type"] for e in await events_of(api.db, message_id=row["id"])] == ["soft_bounced"] * 3
    assert await row_status(api.db, row["id"]) == "sent"


async def test_arf_complaint_suppresses_globally_and_reports_spam(api, tenant, container):
    group = (
        await api.client.post("/v1/suppression-groups", json={"name": "News"}, headers=tenant.headers)
    ).json()["data"]["groupId"]
    cid, rows = await sent_campaign(api.db, tenant.project_id, 2, unsubscribeGroupId=group)
    await subscribe_all(api.db, tenant.project_id)
    row = rows[1]
    async with inbound_receiver(container) as (_h, port):
        await smtp_deliver(
            port, bounce_rcpt(row["id"]), arf(to=bounce_rcpt(row["id"]), recipient=row["email"])
        )
    assert await suppressed(api.db, tenant.project_id) == {
        (row["email"], await _global_code(api, tenant), "COMPLAINT")
    }
    [(name, data)] = await deliveries(api.db, tenant.project_id)
    assert name == "email.spam_reported" and data["complaintType"] == "abuse" and data["campaignId"] == cid
    counts = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()["data"][
        "counts"
    ]
    assert counts["spamReported"] == 1


async def test_receiver_refuses_strangers_and_ignores_non_reports(api, tenant, container):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    genuine = bounce_rcpt(rows[0]["id"])
    local, _, domain = genuine.partition("@")
    forged = local[:-1] + ("1" if local.endswith("0") else "0")  # one character off the signed token
    async with inbound_receiver(container) as (_h, port):
        for stranger in ("postmaster@sendhouse.test", f"{forged}@{domain}", f"{local}@elsewhere.test"):
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
                await smtp_deliver(port, stranger, b"Subject: x\r\n\r\nx\r\n")
        await smtp_deliver(port, genuine, b"Subject: out of office\r\n\r\nI am away until Monday.\r\n")
    assert await events_of(api.db) == [] and await suppressed(api.db, tenant.project_id) == set()


# --- POST /v1/inbound/bounce ---------------------------------------------------------------


def _body(row: dict, **over) -> dict:
    return {
        "emailId": row["id"],
        "email": row["email"],
        "type": "hard",
        "reason": "550 5.1.1 unknown",
        "status": "5.1.1",
        "code": 550,
        **over,
    }


async def test_http_report_records_a_hard_bounce_by_email_id_or_message_id(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    first = await api.client.post(INBOUND, json=_body(rows[0]), headers=tenant.headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"] == {
        "emailId": rows[0]["id"],
        "type": "hard",
        "recorded": True,
        "suppressed": True,
        "campaignPaused": False,
    }
    by_header = _body(
        rows[1], emailId=None, messageId=rows[1]["message_id_header"], type="complaint", status=None
    )
    assert (await api.client.post(INBOUND, json=by_header, headers=tenant.headers)).status_code == 200
    assert {(e, r) for e, _g, r in await suppressed(api.db, tenant.project_id)} == {
        (rows[0]["email"], "BOUNCE"),
        (rows[1]["email"], "COMPLAINT"),
    }
    again = await api.client.post(INBOUND, json=_body(rows[0]), headers=tenant.headers)
    assert again.json()["data"]["recorded"] is False


async def test_http_report_auth_other_project_and_unknown_email(api, tenant, other_tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    body = _body(rows[0])
    assert (await api.client.post(INBOUND, json=body)).status_code == 401
    assert (
        await api.client.post(INBOUND, json=body, headers={"Authorization": "Bearer AS_wrong"})
    ).status_code == 401
    other = await api.client.post(INBOUND, json=body, headers=other_tenant.headers)
    assert other.status_code == 404 and other.json()["error"]["code"] == "EMAIL_NOT_FOUND"
    unknown = await api.client.post(INBOUND, json=_body(rows[0], emailId="f" * 24), headers=tenant.headers)
    assert unknown.status_code == 404
    wrong_header = _body(rows[0], emailId=None, messageId=f"<{rows[0]['id']}@elsewhere.test>")
    assert (await api.client.post(INBOUND, json=wrong_header, headers=tenant.headers)).status_code == 404
    assert await suppressed(api.db, tenant.project_id) == set()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": "bounced"}, "type"),
        ({"code": "550"}, "code"),
        ({"email": 5}, "email"),
        ({"code": 600}, "code"),
        ({"reason": "r" * 1001}, "reason"),
        ({"emailId": "a" * 25}, "emailId"),
        ({"status": "5.1"}, "status"),
        ({"status": "4.2.2"}, "status"),
        ({"email": "not-an-address"}, "email"),
        ({"emailId": None}, "emailId"),
    ],
)
async def test_http_report_rejects_bad_bodies_and_changes_nothing(api, tenant, change, field):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    response = await api.client.post(INBOUND, json=_body(rows[0], **change), headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert field in str(response.json()["error"]["details"])
    assert await events_of(api.db) == [] and await suppressed(api.db, tenant.project_id) == set()


async def test_http_report_limits_at_the_bound_and_a_mismatched_address(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    at_bound = await api.client.post(
        INBOUND, json=_body(rows[0], reason="r" * 1000, code=599), headers=tenant.headers
    )
    assert at_bound.status_code == 200
    mismatch = await api.client.post(
        INBOUND, json=_body(rows[1], email="someone@else.test"), headers=tenant.headers
    )
    assert mismatch.status_code == 400 and mismatch.json()["error"]["details"][0]["field"] == "email"


async def test_bounce_rate_over_the_preset_auto_pauses_the_campaign(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 100)
    async with api.db.write() as conn:  # still sending (only a sending campaign pauses), preset conservative
        await conn.execute(
            campaigns.update()
            .where(campaigns.c.id == cid)
            .values(status="sending", threshold_preset="conservative")
        )
    for row in rows[:2]:  # 2 % is not above the conservative 2 %
        response = await api.client.post(INBOUND, json=_body(row), headers=tenant.headers)
        assert response.json()["data"]["campaignPaused"] is False
    assert (await campaign_row(api.db, cid))["status"] == "sending"
    third = await api.client.post(INBOUND, json=_body(rows[2]), headers=tenant.headers)
    assert third.json()["data"]["campaignPaused"] is True
    paused = await campaign_row(api.db, cid)
    assert paused["status"] == "paused" and "Bounce rate 3.00%" in paused["paused_reason"]
    assert "conservative" in paused["paused_reason"]


async def test_one_early_bounce_does_not_pause_a_small_campaign(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 10)
    async with api.db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == cid).values(status="sending"))
    for row in rows[:5]:
        await api.client.post(INBOUND, json=_body(row), headers=tenant.headers)
    assert (await campaign_row(api.db, cid))["status"] == "sending"
