"""Analytics people can read, over the ASGI app on both databases: opens and clicks with their
rates in the campaign list, a time axis whose labels differ and a labelled y axis, and the
overview page (recent campaigns with rates, audience growth, the last 30 days' bounces and
complaints, what needs attention), which shows nothing of another project."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store import events
from sendhouse.store.schema.campaigns import messages
from tests.integration.test_dashboard_campaign_page import _login, _mark_sent
from tests.support.sending_data import start_campaign


async def _events(db, project_id: str, campaign_id: str, kinds: list[str], *, minutes_apart: int = 1) -> None:
    """One event of each kind on successive ledger rows, `minutes_apart` minutes apart."""
    async with db.write() as conn:
        rows = (
            await conn.execute(
                sa.select(messages.c.id, messages.c.email)
                .where(messages.c.campaign_id == campaign_id)
                .order_by(messages.c.id)
            )
        ).all()
        start = utcnow() - timedelta(minutes=len(kinds) * minutes_apart)
        await events.insert_events(
            conn,
            [
                {
                    "id": ids.new_id(),
                    "project_id": project_id,
                    "message_id": rows[i].id,
                    "campaign_id": campaign_id,
                    "email": rows[i].email,
                    "type": kind,
                    "url": "https://shop.example/x" if kind == "clicked" else None,
                    "is_automated": False,
                    "created_at": start + timedelta(minutes=i * minutes_apart),
                }
                for i, kind in enumerate(kinds)
            ],
        )


async def test_the_campaign_list_shows_opens_and_clicks_with_rates(api, tenant):
    await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 4)
    await _mark_sent(api.db, campaign_id, 4)
    await _events(api.db, tenant.project_id, campaign_id, ["opened", "opened", "clicked"])
    row = (await api.client.get("/app/campaigns")).text
    row = row[row.index(f'data-campaign="{campaign_id}"') :]
    assert re.search(r"data-sent>4<", row)
    assert re.search(r"data-opened>2 <small>50.0 %</small>", row)
    assert re.search(r"data-clicked>1 <small>25.0 %</small>", row)


async def test_the_time_axis_labels_differ_and_the_y_axis_is_labelled(api, tenant):
    await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 6)
    await _mark_sent(api.db, campaign_id, 6)
    await _events(
        api.db, tenant.project_id, campaign_id, ["opened", "opened", "opened", "clicked"], minutes_apart=0
    )
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    chart = page[page.index('aria-label="Opens and clicks over time"') :]
    chart = chart[: chart.index("</svg>")]
    x_labels = re.findall(r'y="192" font-size="12" text-anchor="(?:start|middle|end)">([^<]+)<', chart)
    assert len(x_labels) == 3 and len(set(x_labels)) == 3, x_labels
    y_labels = re.findall(r'text-anchor="end">(\d+)</text>', chart)
    assert y_labels == ["0", "1", "3"] and ">events</text>" in chart and "time (UTC)" in chart


async def test_the_overview_shows_rates_growth_feedback_and_what_needs_attention(api, tenant, other_tenant):
    await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 10)
    await _mark_sent(api.db, campaign_id, 10)
    await _events(
        api.db, tenant.project_id, campaign_id, ["opened"] * 4 + ["clicked", "bounced", "complained"]
    )
    paused = await start_campaign(api.db, tenant.project_id, 2, prefix="late", name="Late")
    async with api.db.write() as conn:
        from sendhouse.services.campaigns import pause_for_reason

        assert await pause_for_reason(conn, paused, "bounce rate above 3 %", utcnow())
    await api.client.post("/v1/domains", headers=tenant.headers, json={"domain": "mail.shop.example"})
    await start_campaign(api.db, other_tenant.project_id, 3, prefix="theirs", name="Theirs")
    page = (await api.client.get("/app/overview")).text
    recent = page[page.index(f'data-campaign="{campaign_id}"') :]
    assert re.search(r"data-open-rate>40.0 %<", recent) and re.search(r"data-click-rate>10.0 %<", recent)
    assert re.search(r'data-metric="contacts"><dt>Contacts</dt><dd>12<', page)
    assert re.search(r'data-metric="added"><dt>New contacts</dt><dd>\+12<', page)
    assert re.search(r'data-metric="bounced"><dt>Bounces</dt><dd>1<', page)
    assert re.search(r'data-metric="complained"><dt>Spam complaints</dt><dd>1<', page)
    assert "bounce rate above 3 %" in page and "mail.shop.example" in page and "is not verified yet" in page
    assert "Theirs" not in page


async def test_the_overview_needs_a_login(api):
    answer = await api.client.get("/app/overview")
    assert answer.status_code == 303 and answer.headers["location"] == "/app/login"
