"""Audience expansion on both databases: lists, segments, sub-segments, the global list, exclusions,
suppression (global and per group), each address once. Lists, segments and suppressions are made
through the HTTP API; expansion runs as a campaign start does, in a write transaction."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.services.expansion import expand_audience
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.integration.test_segments_store import make_contacts
from tests.support.sending_data import start_campaign

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PEOPLE = {
    "ann": {"custom_fields": {"plan": "pro", "age": 40}},
    "bob": {"custom_fields": {"plan": "pro", "age": 20}},
    "cat": {"custom_fields": {"plan": "free", "age": 50}},
    "dan": {"custom_fields": {"plan": "free"}},
    "eve": {"custom_fields": {}},
}


def crit(*groups, logical="AND") -> dict:
    return {
        "logicalOperator": logical,
        "groups": [{"field": f, "fieldType": t, "operator": o, "value": v} for f, t, o, v in groups],
    }


async def new_list(api, tenant, name, **extra) -> str:
    response = await api.client.post(
        "/v1/contact-lists", json={"name": name, **extra}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"]


async def fill(api, tenant, list_id, names) -> None:
    body = {"contactListId": list_id, "emails": [f"{n}@example.com" for n in names]}
    response = await api.client.post("/v1/contact-lists/contacts/bulk-add", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def expand(
    api, tenant, to_lists=(), exclude=(), group=None, everyone=False
) -> tuple[int, int, list[str]]:
    campaign = {
        "id": ids.new_id(),
        "project_id": tenant.project_id,
        "name": "c",
        "subject": "s",
        "status": "sending",
        "send_mode": "all",
        "to_lists": list(to_lists),
        "exclude_lists": list(exclude),
        "unsubscribe_group_id": group,
        "send_to_global_list": everyone,
        "created_at": NOW,
        "updated_at": NOW,
    }
    async with api.container.db.write() as conn:
        await conn.execute(campaigns.insert().values(**campaign))
        total, suppressed = await expand_audience(conn, campaign, NOW)
    async with api.container.db.read() as conn:
        query = (
            sa.select(messages.c.email)
            .where(messages.c.campaign_id == campaign["id"])
            .order_by(messages.c.email)
        )
        emails = [e.split("@")[0] for e in (await conn.execute(query)).scalars()]
    return total, suppressed, emails


async def setup(api, tenant) -> dict:
    await make_contacts(api.container.db, tenant.project_id, PEOPLE)
    made = {"a": await new_list(api, tenant, "A"), "b": await new_list(api, tenant, "B")}
    await fill(api, tenant, made["a"], ["ann", "bob"])
    await fill(api, tenant, made["b"], ["bob", "cat"])
    made["pro"] = await new_list(
        api, tenant, "Pro", type="segment", filterCriteria=crit(("plan", "string", "equals", "pro"))
    )
    made["old"] = await new_list(
        api, tenant, "Old", type="segment", filterCriteria=crit(("age", "number", "greater_than", 30))
    )
    made["old_pro"] = await new_list(
        api,
        tenant,
        "Old pro",
        type="segment",
        parentId=made["pro"],
        filterCriteria=crit(("age", "number", "greater_than", 30)),
    )
    return made


async def test_lists_and_segments_union_each_address_once(api, tenant):
    made = await setup(api, tenant)
    assert await expand(api, tenant, [made["a"], made["b"], made["pro"]]) == (3, 0, ["ann", "bob", "cat"])
    assert await expand(api, tenant, [made["old"], made["pro"]]) == (3, 0, ["ann", "bob", "cat"])
    assert await expand(api, tenant, [made["old_pro"]]) == (1, 0, ["ann"])


async def test_exclusions_of_lists_and_segments(api, tenant):
    made = await setup(api, tenant)
    assert await expand(api, tenant, [made["a"], made["b"]], exclude=[made["pro"]]) == (1, 0, ["cat"])
    assert await expand(api, tenant, ["GLOBAL_CONTACT_LIST"], exclude=[made["b"], made["old"]]) == (
        2,
        0,
        ["dan", "eve"],
    )
    assert await expand(api, tenant, [made["pro"]], exclude=[made["old_pro"]]) == (1, 0, ["bob"])
    assert await expand(api, tenant, [made["a"]], exclude=["GLOBAL_CONTACT_LIST"]) == (0, 0, [])


async def test_global_list_and_flag(api, tenant, other_tenant):
    await setup(api, tenant)
    await fill(api, other_tenant, "GLOBAL_CONTACT_LIST", ["zed"])
    everyone = (5, 0, ["ann", "bob", "cat", "dan", "eve"])
    assert await expand(api, tenant, ["GLOBAL_CONTACT_LIST"]) == everyone
    assert await expand(api, tenant, [], everyone=True) == everyone


async def test_unknown_deleted_and_foreign_lists_match_nobody(api, tenant, other_tenant):
    made = await setup(api, tenant)
    theirs = await new_list(api, other_tenant, "Theirs")
    await fill(api, other_tenant, theirs, ["ann"])
    gone = await new_list(api, tenant, "Gone")
    await fill(api, tenant, gone, ["eve"])
    assert (await api.client.delete(f"/v1/contact-lists/{gone}", headers=tenant.headers)).status_code == 200
    assert await expand(api, tenant, [theirs, gone, "0" * 24]) == (0, 0, [])
    assert await expand(api, tenant, [made["a"]], exclude=[theirs, gone]) == (2, 0, ["ann", "bob"])


async def test_suppressed_globally_or_in_the_campaign_group(api, tenant):
    made = await setup(api, tenant)
    url = "/v1/suppression-groups"
    groups = []
    for name in ("News", "Offers"):
        groups.append(
            (await api.client.post(url, json={"name": name}, headers=tenant.headers)).json()["data"][
                "groupId"
            ]
        )
    news, offers = groups
    await api.client.post(
        f"{url}/emails/suppress",
        json={"emails": ["ann@example.com"], "isGlobal": True},
        headers=tenant.headers,
    )
    await api.client.post(
        f"{url}/emails/suppress",
        json={"emails": ["bob@example.com"], "groupId": news},
        headers=tenant.headers,
    )
    await api.client.post(
        f"{url}/emails/suppress",
        json={"emails": ["cat@example.com"], "groupId": offers},
        headers=tenant.headers,
    )
    targets = [made["a"], made["b"]]
    assert await expand(api, tenant, targets, group=news) == (3, 2, ["cat"])
    assert await expand(api, tenant, targets, group=offers) == (3, 2, ["bob"])
    assert await expand(api, tenant, targets) == (3, 1, ["bob", "cat"])


async def test_message_ids_carry_the_sending_domain(api, tenant):
    project = tenant.project_id
    cid = await start_campaign(api.container.db, project, 3, **{"from": {"email": "news@Mail.Example.com"}})
    async with api.container.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(messages.c.id, messages.c.message_id_header).where(messages.c.campaign_id == cid)
            )
        ).all()
    assert len(rows) == 3 and all(header == f"<{row_id}@mail.example.com>" for row_id, header in rows)
