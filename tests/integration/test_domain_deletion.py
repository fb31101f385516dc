"""DELETE /v1/domains/{id} deletes the senders on the domain and pauses, with a pausedReason, the
scheduled and sending campaigns that send from it, and says so (AutoSend's changelog 2026-09-17);
on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from sendhouse.store.schema.campaigns import campaigns
from sendhouse.store.schema.content import domains, senders, templates
from tests.integration.test_campaigns_states import BASE, act, scheduled, sending, status_of

REASON = "Paused: its sending domain example.com was deleted"


async def add_domain(api, tenant, name: str = "example.com", *, verified: bool = False) -> str:
    response = await api.client.post("/v1/domains", json={"domain": name}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    domain_id = response.json()["data"]["id"]
    if verified:
        async with api.db.write() as conn:
            await conn.execute(
                domains.update().where(domains.c.id == domain_id).values(verification_status="VERIFIED")
            )
    return domain_id


async def add_sender(api, tenant, email: str) -> str:
    response = await api.client.post("/v1/senders", json={"email": email}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["sender"]["id"]


async def sender_emails(api, tenant) -> list[str]:
    listed = (await api.client.get("/v1/senders", headers=tenant.headers)).json()["data"]["senders"]
    return sorted(s["email"] for s in listed)


async def campaign(api, tenant, cid: str) -> dict:
    return (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]


async def test_delete_removes_its_senders_and_pauses_its_campaigns(api, tenant):
    domain_id = await add_domain(api, tenant)
    keep = await add_sender(api, tenant, "hello@other.org")
    news = await add_sender(api, tenant, "news@example.com")
    await add_sender(api, tenant, "ops@mail.example.com")
    waiting = await scheduled(api, tenant, fromSenderId=news)
    running = await sending(api, tenant)
    gradual = await scheduled(
        api,
        tenant,
        sendMode="gradual",
        gradualStrategy="fixed",
        dailyBatchSize=1,
        **{"from": {"email": "x@mail.example.com"}},
    )
    elsewhere = await scheduled(api, tenant, **{"from": {"email": "hello@other.org"}})
    draft = (await api.client.post("/v1/campaigns", json=BASE, headers=tenant.headers)).json()["data"]["id"]
    response = await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == (
        "Domain deleted successfully; 2 sender(s) on it deleted and 3 campaign(s) sending from it paused"
    )
    data = body["data"]
    assert data["id"] == domain_id and data["domainName"] == "example.com"
    assert sorted(s["email"] for s in data["deletedSenders"]) == ["news@example.com", "ops@mail.example.com"]
    assert sorted(c["id"] for c in data["pausedCampaigns"]) == sorted([waiting, running, gradual])
    assert {c["pausedReason"] for c in data["pausedCampaigns"]} == {REASON}
    assert await sender_emails(api, tenant) == ["hello@other.org"]
    for cid in (waiting, running, gradual):
        got = await campaign(api, tenant, cid)
        assert (got["status"], got["pausedReason"]) == ("paused", REASON) and got["pausedAt"]
    assert (await campaign(api, tenant, waiting))["fromSenderId"] is None
    assert (await campaign(api, tenant, waiting))["from"]["email"] == "news@example.com"
    assert await status_of(api, tenant, elsewhere) == "scheduled"
    assert await status_of(api, tenant, draft) == "draft"
    assert (await api.client.get(f"/v1/senders/{keep}", headers=tenant.headers)).status_code == 200


async def test_a_paused_campaign_can_be_resumed_after_the_domain_is_gone(api, tenant):
    domain_id = await add_domain(api, tenant)
    cid = await sending(api, tenant)
    await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)
    resumed = await act(api, tenant, cid, "resume")
    assert resumed.status_code == 200 and resumed.json()["data"]["status"] == "sending"


async def test_finished_campaigns_are_left_as_they_are(api, tenant):
    domain_id = await add_domain(api, tenant)
    cid = await sending(api, tenant)
    assert (await act(api, tenant, cid, "abort")).status_code == 200
    data = (await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)).json()["data"]
    assert data["pausedCampaigns"] == []
    assert (await campaign(api, tenant, cid))["status"] == "aborted"


async def test_addresses_a_verified_parent_domain_still_covers_are_kept(api, tenant):
    await add_domain(api, tenant, "example.com", verified=True)
    sub_id = await add_domain(api, tenant, "mail.example.com")
    await add_sender(api, tenant, "ops@mail.example.com")
    cid = await scheduled(api, tenant, **{"from": {"email": "x@mail.example.com"}})
    response = await api.client.delete(f"/v1/domains/{sub_id}", headers=tenant.headers)
    assert response.json()["message"] == "Domain deleted successfully"
    assert (
        response.json()["data"]["deletedSenders"] == [] and response.json()["data"]["pausedCampaigns"] == []
    )
    assert await sender_emails(api, tenant) == ["ops@mail.example.com"]
    assert await status_of(api, tenant, cid) == "scheduled"


async def test_templates_lose_the_deleted_sender(api, tenant):
    domain_id = await add_domain(api, tenant)
    sender_id = await add_sender(api, tenant, "news@example.com")
    created = await api.client.post(
        "/v1/templates",
        json={"templateName": "T", "subject": "S", "emailTemplate": "<p>x</p>", "senderId": sender_id},
        headers=tenant.headers,
    )
    assert created.status_code in (200, 201), created.text
    await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)
    async with api.db.read() as conn:
        assert (await conn.execute(sa.select(templates.c.sender_id))).scalars().all() == [None]


async def test_another_projects_key_not_found_and_auth_change_nothing(api, tenant, other_tenant):
    domain_id = await add_domain(api, tenant)
    await add_sender(api, tenant, "news@example.com")
    cid = await scheduled(api, tenant)
    foreign = await api.client.delete(f"/v1/domains/{domain_id}", headers=other_tenant.headers)
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "DOMAIN_NOT_FOUND"
    assert (await api.client.delete(f"/v1/domains/{domain_id}")).status_code == 401
    for missing in ("0123456789abcdef01234567", "not-an-id"):
        gone = await api.client.delete(f"/v1/domains/{missing}", headers=tenant.headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "DOMAIN_NOT_FOUND"
    assert await sender_emails(api, tenant) == ["news@example.com"]
    assert await status_of(api, tenant, cid) == "scheduled"
    assert (await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)).status_code == 200
    again = await api.client.delete(f"/v1/domains/{domain_id}", headers=tenant.headers)
    assert again.status_code == 404
    async with api.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(senders))).scalar() == 0
        statuses = (await conn.execute(sa.select(campaigns.c.status))).scalars().all()
    assert statuses == ["paused"]
