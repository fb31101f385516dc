"""GET /v1/campaigns/{id} after the read-path shortcuts (organization and campaign counters joined
to the campaign row, list member counts in the lists query, no snapshot transaction on SQLite), on
SQLite and PostgreSQL: each part of the response still holds the right figures, told apart by
distinct non-zero values."""

from __future__ import annotations

import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store import events, ledger
from sendhouse.store.schema.audience import contact_lists
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.store.schema.core import projects
from tests.support.feedback_data import sent_campaign
from tests.support.sending_data import seed_list, start_campaign


def _event(row: dict, kind: str, *, automated: bool = False) -> dict:
    return {
        "id": ids.new_id(),
        "project_id": row["project_id"],
        "message_id": row["id"],
        "campaign_id": row["campaign_id"],
        "email": row["email"],
        "type": kind,
        "url": None,
        "is_automated": automated,
        "detail": {},
        "created_at": utcnow(),
    }


async def _send_with_feedback(db, project_id: str) -> tuple[str, list[dict]]:
    """8 recipients, recorded through the ledger: 6 sent, one refused at SMTP time (failed with a
    bounce event), one still queued; opens by 3 rows (one twice, one automated), clicks by 2, a bounce
    reported for a delivered row, a complaint."""
    cid = await start_campaign(db, project_id, 8)
    now = utcnow()
    async with db.write() as conn:
        rows = [
            dict(r)
            for r in (
                await conn.execute(
                    sa.select(messages).where(messages.c.campaign_id == cid).order_by(messages.c.email)
                )
            ).mappings()
        ]
        await ledger.mark_sent(
            conn,
            [{"row_id": r["id"], "response": "250 OK"} for i, r in enumerate(rows) if i not in (4, 6)],
            now,
        )
        await conn.execute(
            messages.update().where(messages.c.id == rows[4]["id"]).values(status="sending", lease_owner="w1")
        )
        await ledger.mark_failed(
            conn, [{"row_id": rows[4]["id"], "error": "550", "response": "550 no"}], now, "w1"
        )
        await ledger.mark_bounced(conn, [rows[3]["id"]], now)
        await events.insert_events(
            conn,
            [
                _event(rows[0], "opened"),
                _event(rows[0], "opened"),
                _event(rows[1], "opened"),
                _event(rows[2], "opened", automated=True),
                _event(rows[0], "clicked"),
                _event(rows[1], "clicked"),
                _event(rows[3], "bounced"),
                _event(rows[4], "bounced"),
                _event(rows[5], "complained"),
            ],
        )
    return cid, rows


async def test_campaign_read_has_its_lists_counts_organization_and_metrics(api, tenant):
    cid, _rows = await _send_with_feedback(api.db, tenant.project_id)
    plain = await seed_list(api.db, tenant.project_id, 3, prefix="member")
    criteria = {
        "logicalOperator": "AND",
        "groups": [{"field": "email", "fieldType": "string", "operator": "contains", "value": "member1"}],
    }
    segment = await api.client.post(
        "/v1/contact-lists",
        json={"name": "One", "type": "segment", "filterCriteria": criteria},
        headers=tenant.headers,
    )
    assert segment.status_code == 200, segment.text
    patch = {"toLists": [plain, segment.json()["data"]["id"]], "excludeLists": ["GLOBAL_CONTACT_LIST"]}
    await _set_lists(api.db, cid, patch)
    response = await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(x["id"], x["type"], x["contactCount"]) for x in data["toLists"]] == [
        (plain, "list", 3),
        (segment.json()["data"]["id"], "segment", 1),
    ]
    assert [(x["id"], x["contactCount"]) for x in data["excludeLists"]] == [("GLOBAL_CONTACT_LIST", 11)]
    assert data["organizationId"] == await _organization(api.db, tenant.project_id)
    metrics = data["metrics"]
    assert (metrics["opened"], metrics["clicked"], metrics["bounced"], metrics["spamReported"]) == (
        3,
        2,
        2,
        1,
    )
    assert (metrics["sent"], metrics["failedCount"]) == (7, 0)  # the refused row counts as sent and bounced
    analytics = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()[
        "data"
    ]
    assert analytics["counts"]["humanOpened"] == 2


async def test_another_projects_campaign_is_not_found(api, tenant, other_tenant):
    cid, _rows = await sent_campaign(api.db, tenant.project_id, 1)
    response = await api.client.get(f"/v1/campaigns/{cid}", headers=other_tenant.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "CAMPAIGN_NOT_FOUND"


async def _set_lists(db, cid: str, patch: dict) -> None:
    async with db.write() as conn:
        await conn.execute(
            campaigns.update()
            .where(campaigns.c.id == cid)
            .values(to_lists=patch["toLists"], exclude_lists=patch["excludeLists"])
        )


async def _organization(db, project_id: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(sa.select(projects.c.organization_id).where(projects.c.id == project_id))
        return found.scalar_one()


async def test_plain_lists_and_a_template_are_read_with_the_campaign_as_when_it_was_created(api, tenant):
    """The one-statement read (lists and template joined to the campaign row) answers what the
    create path, which reads them one by one, answered; a deleted list is left out by both."""
    from tests.integration.test_campaigns_api import BASE, create, seed_content

    made = await seed_content(api, tenant.project_id)
    members, gone = (
        await seed_list(api.db, tenant.project_id, 3, prefix="m"),
        await seed_list(api.db, tenant.project_id, 2, prefix="g"),
    )
    body = {
        **BASE,
        "templateId": made["template"],
        "toLists": [members, made["list"]],
        "excludeLists": [gone],
    }
    created = (await create(api, tenant, body)).json()["data"]
    assert [x["contactCount"] for x in created["toLists"] + created["excludeLists"]] == [3, 0, 2]
    async with api.db.write() as conn:
        await conn.execute(
            contact_lists.update().where(contact_lists.c.id == gone).values(deleted_at=utcnow())
        )
    got = (await api.client.get(f"/v1/campaigns/{created['id']}", headers=tenant.headers)).json()["data"]
    assert got["excludeLists"] == [] and got["template"]["templateName"] == "Welcome"
    assert {**got, "excludeLists": created["excludeLists"]} == created
