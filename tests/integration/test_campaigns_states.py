"""The campaign state machine on both databases: start (audience into the ledger), pause, resume,
abort (cancelling pending ledger rows in the same transaction), finish, automatic pause,
analytics from the ledger, and racing transitions through the API."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as service
from sendhouse.store import ledger as store_ledger
from sendhouse.store.schema.audience import contact_lists, contacts, list_members
from sendhouse.store.schema.campaigns import campaigns, messages

BASE = {
    "name": "Launch",
    "subject": "Hello",
    "htmlTemplate": "<p>Hi</p>",
    "from": {"email": "news@example.com"},
}


async def seed_list(api, project_id: str, size: int) -> str:
    """A plain list of `size` contacts, inserted directly."""
    now, list_id = utcnow(), ids.new_id()
    people = [
        {
            "id": ids.new_id(),
            "project_id": project_id,
            "email": f"user{i}@{list_id}.example.com",
            "custom_fields": {},
            "first_name": f"User{i}",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(size)
    ]
    async with api.db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id,
                project_id=project_id,
                name="Customers",
                type="list",
                created_at=now,
                updated_at=now,
            )
        )
        if people:
            await conn.execute(contacts.insert(), people)
            await conn.execute(
                list_members.insert(),
                [{"list_id": list_id, "contact_id": p["id"], "created_at": now} for p in people],
            )
    return list_id


async def scheduled(api, tenant, size: int = 3, **extra) -> str:
    list_id = await seed_list(api, tenant.project_id, size)
    body = {**BASE, "toLists": [list_id], "sendNow": True, **extra}
    response = await api.client.post("/v1/campaigns", json=body, headers=tenant.headers)
    assert response.json()["data"]["status"] == "scheduled", response.text
    return response.json()["data"]["id"]


async def sending(api, tenant, size: int = 3, **extra) -> str:
    cid = await scheduled(api, tenant, size, **extra)
    row = await service.start_campaign(api.db, cid, utcnow())
    assert row is not None and row["status"] in ("sending", "sending_gradual")
    return cid


async def ledger(api, cid: str) -> Counter:
    async with api.db.read() as conn:
        rows = await conn.execute(sa.select(messages.c.status).where(messages.c.campaign_id == cid))
        return Counter(status for (status,) in rows)


async def set_ledger(api, cid: str, email: str, status: str) -> None:
    """Record an outcome for the campaign's row for contact `userN@…` as a worker would (through the
        ledger, so the campaign counters follow): sent, bounced (after delivery), sending (leased),
    deferred or failed."""
    local = email.split("@")[0]
    async with api.db.write() as conn:
        mine = sa.and_(messages.c.campaign_id == cid, messages.c.email.like(f"{local}@%"))
        row_id = (await conn.execute(sa.select(messages.c.id).where(mine))).scalar_one()
        if status in ("sent", "bounced"):
            await store_ledger.mark_sent(conn, [{"row_id": row_id, "response": "250 OK"}], utcnow())
            await store_ledger.mark_bounced(conn, [row_id] if status == "bounced" else [], utcnow())
            return
        await conn.execute(
            messages.update().where(messages.c.id == row_id).values(status="sending", lease_owner="w1")
        )
        if status == "sending":  # leased by a worker, its outcome not recorded yet
            return
        outcome = {"row_id": row_id, "error": "4.0.0 later", "response": "421 later", "retry_at": utcnow()}
        mark = store_ledger.mark_deferred if status == "deferred" else store_ledger.mark_failed
        await mark(conn, [outcome], utcnow(), "w1")


async def act(api, tenant, cid: str, action: str):
    return await api.client.post(f"/v1/campaigns/{cid}/{action}", headers=tenant.headers)


async def status_of(api, tenant, cid: str) -> str:
    return (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]["status"]


# --- start and finish ----------------------------------------------------------------------


async def test_start_expands_audience_and_only_once(api, tenant):
    cid = await scheduled(api, tenant, size=4)
    row = await service.start_campaign(api.db, cid, utcnow())
    assert row["status"] == "sending" and row["total_contacts"] == 4 and row["started_at"] is not None
    assert await ledger(api, cid) == Counter({"queued": 4})
    assert await service.start_campaign(api.db, cid, utcnow()) is None
    assert await ledger(api, cid) == Counter({"queued": 4})
    data = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert data["metrics"]["totalContacts"] == 4 and data["metrics"]["processedCount"] == 0


async def test_start_of_a_draft_does_nothing(api, tenant):
    draft = (await api.client.post("/v1/campaigns", json=BASE, headers=tenant.headers)).json()["data"]["id"]
    assert await service.start_campaign(api.db, draft, utcnow()) is None
    assert await status_of(api, tenant, draft) == "draft" and await ledger(api, draft) == Counter()


async def test_gradual_campaign_starts_in_sending_gradual(api, tenant):
    cid = await sending(api, tenant, sendMode="gradual", gradualStrategy="2x", dailyBatchSize=2)
    assert await status_of(api, tenant, cid) == "sending_gradual"


async def test_empty_audience_finishes_at_once(api, tenant):
    cid = await scheduled(api, tenant, size=0)
    row = await service.start_campaign(api.db, cid, utcnow())
    assert row["status"] == "sent" and row["sent_at"] is not None and row["total_contacts"] == 0


async def test_finish_only_when_nothing_is_pending(api, tenant):
    cid = await sending(api, tenant, size=3)
    for email, status in (("user0@example.com", "sent"), ("user1@example.com", "bounced")):
        await set_ledger(api, cid, email, status)
    await set_ledger(api, cid, "user2@example.com", "deferred")
    async with api.db.write() as conn:
        assert await service.finish_if_complete(conn, cid, utcnow()) is False
    await set_ledger(api, cid, "user2@example.com", "failed")
    async with api.db.write() as conn:
        assert await service.finish_if_complete(conn, cid, utcnow()) is True
        assert await service.finish_if_complete(conn, cid, utcnow()) is False
    data = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert data["status"] == "sent" and data["sentAt"] is not None
    assert (data["metrics"]["sent"], data["metrics"]["bounced"], data["metrics"]["failedCount"]) == (2, 1, 1)


async def test_analytics_counts_and_rates_from_the_ledger(api, tenant):
    cid = await sending(api, tenant, size=4)
    zero = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()["data"]
    assert zero["counts"]["sent"] == 0 and zero["rates"]["deliveryRate"] == 0 and zero["sentAt"] is None
    for email, status in (
        ("user0@example.com", "sent"),
        ("user1@example.com", "sent"),
        ("user2@example.com", "bounced"),
        ("user3@example.com", "failed"),
    ):
        await set_ledger(api, cid, email, status)
    response = await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)
    data = response.json()["data"]
    assert response.json()["message"] == "Campaign analytics retrieved successfully"
    assert data["campaignId"] == cid and data["tracking"] == {"open": True, "click": True}
    counts = data["counts"]
    assert (counts["totalContacts"], counts["sent"], counts["delivered"], counts["bounced"]) == (4, 3, 2, 1)
    assert (counts["failed"], counts["attempted"]) == (1, 3)
    assert data["rates"]["bounceRate"] == 33.33 and data["rates"]["deliveryRate"] == 66.67
    assert data["rates"]["successRate"] == 100.0 and data["rates"]["openRate"] == 0


# --- pause, resume, abort ------------------------------------------------------------------


async def test_pause_resume_abort_cycle(api, tenant):
    cid = await sending(api, tenant)
    paused = await act(api, tenant, cid, "pause")
    assert paused.status_code == 200 and paused.json()["data"]["status"] == "paused"
    assert paused.json()["data"]["pausedAt"] is not None and paused.json()["data"]["campaignId"] == cid
    assert error_of(await act(api, tenant, cid, "pause"), 409)["code"] == "CAMPAIGN_NOT_PAUSABLE"
    resumed = (await act(api, tenant, cid, "resume")).json()["data"]
    assert resumed["status"] == "sending" and resumed["resumedAt"] is not None
    assert error_of(await act(api, tenant, cid, "resume"), 409)["code"] == "CAMPAIGN_NOT_RESUMABLE"
    aborted = (await act(api, tenant, cid, "abort")).json()["data"]
    assert aborted["status"] == "aborted" and aborted["abortedAt"] is not None
    again = await act(api, tenant, cid, "abort")
    assert again.status_code == 200 and again.json()["data"] == aborted
    for action, code in (("pause", "CAMPAIGN_NOT_PAUSABLE"), ("resume", "CAMPAIGN_NOT_RESUMABLE")):
        assert error_of(await act(api, tenant, cid, action), 409)["code"] == code


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


async def test_wrong_states_for_each_action(api, tenant):
    draft = (await api.client.post("/v1/campaigns", json=BASE, headers=tenant.headers)).json()["data"]["id"]
    for action, code in (
        ("pause", "CAMPAIGN_NOT_PAUSABLE"),
        ("resume", "CAMPAIGN_NOT_RESUMABLE"),
        ("abort", "CAMPAIGN_NOT_ABORTABLE"),
    ):
        assert error_of(await act(api, tenant, draft, action), 409)["code"] == code
    immediate = await scheduled(api, tenant)
    assert error_of(await act(api, tenant, immediate, "pause"), 409)["code"] == "CAMPAIGN_NOT_PAUSABLE"
    done = await scheduled(api, tenant, size=0)
    await service.start_campaign(api.db, done, utcnow())
    assert error_of(await act(api, tenant, done, "abort"), 409)["code"] == "CAMPAIGN_NOT_ABORTABLE"
    assert (
        error_of(
            await api.client.patch(f"/v1/campaigns/{done}", json={"name": "x"}, headers=tenant.headers), 409
        )["code"]
        == "CAMPAIGN_NOT_EDITABLE"
    )
    assert [await status_of(api, tenant, c) for c in (draft, immediate, done)] == [
        "draft",
        "scheduled",
        "sent",
    ]


async def test_gradual_scheduled_pause_and_resume_keeps_its_start(api, tenant):
    cid = await scheduled(
        api,
        tenant,
        sendMode="gradual",
        gradualStrategy="fixed",
        dailyBatchSize=1,
        scheduledAt="2099-01-01T00:00:00Z",
        sendNow=False,
    )
    assert (await act(api, tenant, cid, "pause")).json()["data"]["status"] == "paused"
    data = (await act(api, tenant, cid, "resume")).json()["data"]
    assert data["status"] == "scheduled"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["scheduledAt"] == "2099-01-01T00:00:00.000Z"


async def test_paused_campaign_edits_only_gradual_settings(api, tenant):
    cid = await sending(api, tenant, sendMode="gradual", gradualStrategy="fixed", dailyBatchSize=1)
    await act(api, tenant, cid, "pause")
    ok = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"dailyBatchSize": 5, "gradualStrategy": "2x"}, headers=tenant.headers
    )
    assert ok.status_code == 200 and ok.json()["data"]["gradualSend"]["dailyBatchSize"] == 5
    refused = await api.client.patch(f"/v1/campaigns/{cid}", json={"subject": "New"}, headers=tenant.headers)
    assert error_of(refused, 409)["code"] == "CAMPAIGN_NOT_EDITABLE"
    zero = await api.client.patch(f"/v1/campaigns/{cid}", json={"dailyBatchSize": 0}, headers=tenant.headers)
    assert error_of(zero, 400)["details"][0]["field"] == "dailyBatchSize"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert (
        got["subject"] == "Hello"
        and got["status"] == "paused"
        and got["gradualSend"]["gradualStrategy"] == "2x"
    )
    assert (await act(api, tenant, cid, "resume")).json()["data"]["status"] == "sending_gradual"


async def test_sending_campaign_is_not_editable(api, tenant):
    cid = await sending(api, tenant)
    response = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"dailyBatchSize": 3}, headers=tenant.headers
    )
    assert error_of(response, 409)["code"] == "CAMPAIGN_NOT_EDITABLE"


async def test_abort_cancels_queued_and_deferred_rows_in_the_same_transaction(api, tenant):
    cid = await sending(api, tenant, size=5)
    await set_ledger(api, cid, "user0@example.com", "sent")
    await set_ledger(api, cid, "user1@example.com", "deferred")
    await set_ledger(api, cid, "user2@example.com", "sending")
    await act(api, tenant, cid, "pause")
    assert await ledger(api, cid) == Counter({"queued": 2, "sent": 1, "deferred": 1, "sending": 1})
    response = await act(api, tenant, cid, "abort")
    assert response.json()["data"]["status"] == "aborted"
    assert await ledger(api, cid) == Counter({"cancelled": 3, "sent": 1, "sending": 1})
    async with api.db.read() as conn:
        aborted_at = (
            await conn.execute(sa.select(campaigns.c.aborted_at).where(campaigns.c.id == cid))
        ).scalar()
        stamps = {
            s
            for (s,) in await conn.execute(
                sa.select(messages.c.updated_at).where(
                    messages.c.campaign_id == cid, messages.c.status == "cancelled"
                )
            )
        }
    assert stamps == {aborted_at}


async def test_scheduled_campaign_abort_before_start(api, tenant):
    cid = await scheduled(api, tenant)
    assert (await act(api, tenant, cid, "abort")).json()["data"]["status"] == "aborted"
    assert await service.start_campaign(api.db, cid, utcnow()) is None
    assert await ledger(api, cid) == Counter()


async def test_automatic_pause_with_reason_and_resume_of_a_never_started_campaign(api, tenant):
    cid = await scheduled(api, tenant, size=2)
    now = utcnow()
    async with api.db.write() as conn:
        assert await service.pause_for_reason(conn, cid, "schedule missed while the server was down", now)
        assert not await service.pause_for_reason(conn, cid, "again", now)
        await conn.execute(
            campaigns.update().where(campaigns.c.id == cid).values(scheduled_at=now - timedelta(hours=3))
        )
    data = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert data["status"] == "paused" and data["pausedReason"] == "schedule missed while the server was down"
    resumed = (await act(api, tenant, cid, "resume")).json()["data"]
    assert resumed["status"] == "scheduled"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["pausedReason"] is None and got["scheduledAt"] >= now.isoformat()[:19]
    assert (await service.start_campaign(api.db, cid, utcnow()))["total_contacts"] == 2


# --- racing transitions --------------------------------------------------------------------


async def test_twenty_concurrent_pauses_exactly_one_wins(api, tenant):
    cid = await sending(api, tenant)
    results = await asyncio.gather(*(act(api, tenant, cid, "pause") for _ in range(20)))
    assert Counter(r.status_code for r in results) == Counter({200: 1, 409: 19})
    results = await asyncio.gather(*(act(api, tenant, cid, "resume") for _ in range(20)))
    assert Counter(r.status_code for r in results) == Counter({200: 1, 409: 19})
    assert await status_of(api, tenant, cid) == "sending"


async def test_twenty_concurrent_aborts_change_the_campaign_once(api, tenant):
    cid = await sending(api, tenant, size=6)
    results = await asyncio.gather(*(act(api, tenant, cid, "abort") for _ in range(20)))
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["data"]["abortedAt"] for r in results}) == 1
    assert await ledger(api, cid) == Counter({"cancelled": 6})


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_mixed_concurrent_actions_leave_a_consistent_state(api, tenant, seed):
    cid = await sending(api, tenant, size=5)
    actions = [("pause", "resume", "abort")[(i * seed + i // 3) % 3] for i in range(20)]
    results = await asyncio.gather(*(act(api, tenant, cid, a) for a in actions))
    won = Counter(a for a, r in zip(actions, results, strict=False) if r.status_code == 200)
    lost = [r for r in results if r.status_code != 200]
    assert all(r.status_code == 409 for r in lost)
    final = await status_of(api, tenant, cid)
    rows = await ledger(api, cid)
    if final == "aborted":
        assert won["pause"] - won["resume"] in (0, 1) and rows == Counter({"cancelled": 5})
    else:
        assert won["abort"] == 0 and rows == Counter({"queued": 5})
        assert won["pause"] - won["resume"] == (1 if final == "paused" else 0)


# --- schedule changes -----------------------------------------------------------------------


async def test_patch_moves_a_scheduled_campaign_keeping_the_buffer(api, tenant):
    cid = await scheduled(api, tenant, scheduledAt="2099-01-01T00:00:00Z", sendNow=False)
    moved = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"scheduledAt": "2098-06-01T08:30:00Z"}, headers=tenant.headers
    )
    assert moved.json()["data"]["scheduledAt"] == "2098-06-01T08:30:00.000Z"
    now = utcnow()
    soon = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"scheduledAt": now.isoformat()}, headers=tenant.headers
    )
    async with api.db.read() as conn:
        start = (
            await conn.execute(sa.select(campaigns.c.scheduled_at).where(campaigns.c.id == cid))
        ).scalar()
    assert soon.json()["data"]["status"] == "scheduled"
    assert (start - now).total_seconds() >= api.container.settings.send_now_delay


async def test_patch_cannot_remove_the_content(api, tenant):
    cid = await scheduled(api, tenant)
    response = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"htmlTemplate": None}, headers=tenant.headers
    )
    assert error_of(response, 400)["details"][0]["field"] == "templateId"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["htmlTemplate"] == BASE["htmlTemplate"]
