"""GET /v1/campaigns/{id}/analytics and the campaign's metrics derived from the ledger and events,
and GET /v1/mails/{id}/status lifecycle times, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sendhouse.domain.times import utcnow
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.support.feedback_data import click_path, open_path, sent_campaign, unsubscribe_path

INBOUND = "/v1/inbound/bounce"


async def _analytics(api, tenant, cid):
    response = await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Campaign analytics retrieved successfully"
    return response.json()["data"]


async def _feedback(api, tenant, rows):
    """10 rows: 4 human opens (one opened twice), 2 clicks, 1 hard bounce, 1 complaint, 1 unsubscribe."""
    for row in rows[:4] + rows[:1]:
        await api.client.get(open_path(row["id"]))
    for row in rows[:2]:
        await api.client.get(click_path(row["id"], "https://example.com/a"))
    await api.app.state.tracking.recorder.flush()
    hard = {"emailId": rows[9]["id"], "email": rows[9]["email"], "type": "hard"}
    complaint = {"emailId": rows[8]["id"], "email": rows[8]["email"], "type": "complaint"}
    for body in (hard, complaint):
        assert (await api.client.post(INBOUND, json=body, headers=tenant.headers)).status_code == 200
    await api.client.post(unsubscribe_path(rows[7]), data={"List-Unsubscribe": "One-Click"})


async def test_counts_and_rates_follow_the_reference_formulas(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 10)
    await _feedback(api, tenant, rows)
    data = await _analytics(api, tenant, cid)
    assert data["counts"] == {
        "totalContacts": 10,
        "suppressed": 0,
        "failed": 0,
        "attempted": 10,
        "sent": 10,
        "delivered": 9,
        "opened": 4,
        "humanOpened": 4,
        "clicked": 2,
        "bounced": 1,
        "unsubscribed": 1,
        "spamReported": 1,
    }
    assert data["rates"] == {
        "openRate": 44.44,
        "clickRate": 22.22,
        "bounceRate": 10.0,
        "unsubscribedRate": 11.11,
        "complaintRate": 11.11,
        "successRate": 100.0,
        "deliveryRate": 90.0,
        "trueOpenRate": 44.44,
    }
    assert data["tracking"] == {"open": True, "click": True} and data["campaignId"] == cid
    metrics = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]["metrics"]
    assert {
        k: metrics[k]
        for k in ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "spamReported")
    } == {
        "sent": 10,
        "delivered": 9,
        "opened": 4,
        "clicked": 2,
        "bounced": 1,
        "unsubscribed": 1,
        "spamReported": 1,
    }


async def test_tracking_off_keeps_open_and_click_counts_at_zero(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 10, trackingOpen=False, trackingClick=False)
    await _feedback(api, tenant, rows)
    data = await _analytics(api, tenant, cid)
    assert data["tracking"] == {"open": False, "click": False}
    assert (data["counts"]["opened"], data["counts"]["humanOpened"], data["counts"]["clicked"]) == (0, 0, 0)
    assert data["rates"]["openRate"] == data["rates"]["clickRate"] == data["rates"]["trueOpenRate"] == 0
    assert data["counts"]["bounced"] == 1


async def test_a_refusal_at_smtp_time_counts_as_sent_and_bounced_not_failed(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 4, leased=[0])
    from sendhouse.delivery.base import PERMANENT, SendResult
    from sendhouse.services.sending import Outcome, record_outcomes

    refused = Outcome(dict(rows[0]), SendResult(PERMANENT, 550, "5.1.1 no such user"))
    await record_outcomes(api.db, [refused], max_attempts=3, retry_base=0, now=utcnow(), worker="w1")
    counts = (await _analytics(api, tenant, cid))["counts"]
    assert (counts["sent"], counts["delivered"], counts["bounced"], counts["failed"]) == (4, 3, 1, 0)


async def test_analytics_not_found_other_project_and_auth(api, tenant, other_tenant):
    cid, _rows = await sent_campaign(api.db, tenant.project_id, 1)
    for path, headers in (
        (f"/v1/campaigns/{cid}/analytics", other_tenant.headers),
        (f"/v1/campaigns/{'0' * 24}/analytics", tenant.headers),
    ):
        response = await api.client.get(path, headers=headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"
    assert (await api.client.get(f"/v1/campaigns/{cid}/analytics")).status_code == 401
    wrong = await api.client.get(
        f"/v1/campaigns/{cid}/analytics", headers={"Authorization": "Bearer AS_nope"}
    )
    assert wrong.status_code == 401


async def test_gradual_campaign_attempted_counts_only_processed_rows(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 5, queued=[3, 4])
    assert [r["email"] for r in rows[3:]] == ["user3@example.com", "user4@example.com"]
    async with api.db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == cid).values(status="sending_gradual"))
    counts = (await _analytics(api, tenant, cid))["counts"]
    assert (counts["totalContacts"], counts["attempted"], counts["sent"]) == (5, 3, 3)


# --- GET /v1/mails/{id}/status ------------------------------------------------------------


async def _sent_mail(api, tenant, *, ago: float = 60) -> str:
    body = {
        "to": {"email": "reader@example.com"},
        "from": {"email": "app@example.com"},
        "subject": "Hi",
        "html": '<p>Hi <a href="https://example.com/x">x</a></p>',
    }
    email_id = (await api.client.post("/v1/mails/send", json=body, headers=tenant.headers)).json()["data"][
        "emailId"
    ]
    at = utcnow() - timedelta(seconds=ago)
    async with api.db.write() as conn:
        await conn.execute(
            messages.update().where(messages.c.id == email_id).values(status="sent", sent_at=at)
        )
    return email_id


async def _status(api, tenant, email_id):
    response = await api.client.get(f"/v1/mails/{email_id}/status", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_mail_status_follows_the_lifecycle(api, tenant):
    email_id = await _sent_mail(api, tenant)
    first = await _status(api, tenant, email_id)
    assert first["status"] == "sent" and first["deliveredAt"] == first["sentAt"] is not None
    assert first["openedAt"] is first["clickedAt"] is first["bouncedAt"] is None
    await api.client.get(open_path(email_id))
    await api.app.state.tracking.recorder.flush()
    opened = await _status(api, tenant, email_id)
    assert opened["status"] == "opened" and opened["openedAt"] is not None
    await api.client.get(click_path(email_id, "https://example.com/x"))
    await api.app.state.tracking.recorder.flush()
    clicked = await _status(api, tenant, email_id)
    assert clicked["status"] == "clicked" and clicked["clickedAt"] >= clicked["openedAt"]
    await api.client.post(
        INBOUND,
        json={"emailId": email_id, "email": "reader@example.com", "type": "hard"},
        headers=tenant.headers,
    )
    bounced = await _status(api, tenant, email_id)
    assert (
        bounced["status"] == "bounced" and bounced["bouncedAt"] is not None and bounced["deliveredAt"] is None
    )
