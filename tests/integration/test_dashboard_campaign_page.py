"""The campaign page over the ASGI app on both databases: a bar split into sent / cancelled /
remaining, live analytics cards, a reload once the state changes, only the actions the state
allows; the send confirmation with its recipient count, past start dates refused, local times
with their zone, duplicate and delete; the sent → delivered → opened → clicked funnel with its rates."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain.times import utcnow
from sendhouse.services import users as user_service
from sendhouse.store import ledger
from sendhouse.store.schema.campaigns import messages
from tests.integration.test_analytics import _feedback as analytics_feedback
from tests.support.feedback_data import sent_campaign
from tests.support.sending_data import campaign_row, seed_list, start_campaign

PASSWORD = "correct horse battery"
ALL_BUTTONS = (
    "Send now",
    ">Edit<",
    ">Pause<",
    ">Resume<",
    ">Abort<",
    ">Duplicate<",
    ">Delete<",
    "Schedule for later",
)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


async def _login(api, tenant, email="ada@shop.example") -> str:
    await user_service.create_user(api.db, email, password=PASSWORD, project_id=tenant.project_id)
    page = await api.client.get("/app/login")
    await api.client.post(
        "/app/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)}
    )
    return _csrf((await api.client.get("/app/campaigns")).text)


def _buttons(html: str) -> set[str]:
    actions = html[html.index('aria-label="Actions"') :]
    return {b for b in ALL_BUTTONS if b in actions}


def _part(html: str, name: str) -> int:
    found = re.search(rf'data-part="{name}">\w+ <strong>([\d,]+)</strong>', html)
    return int(found[1].replace(",", ""))


async def _mark_sent(db, campaign_id: str, how_many: int) -> None:
    async with db.write() as conn:
        ids = (
            (
                await conn.execute(
                    sa.select(messages.c.id)
                    .where(messages.c.campaign_id == campaign_id)
                    .order_by(messages.c.id)
                    .limit(how_many)
                )
            )
            .scalars()
            .all()
        )
        await ledger.mark_sent(conn, [{"row_id": row_id, "response": "250 OK"} for row_id in ids], utcnow())


async def _draft(api, tenant, list_id: str | None = None, name: str = "Spring") -> str:
    body = {
        "name": name,
        "subject": "News",
        "htmlTemplate": "<p>Hi</p>",
        "from": {"email": "news@shop.example"},
    }
    if list_id:
        body["toLists"] = [list_id]
    made = await api.client.post("/v1/campaigns", headers=tenant.headers, json=body)
    return made.json()["data"]["id"]


async def test_an_aborted_campaign_shows_sent_and_cancelled_not_a_full_green_bar(api, tenant):
    token = await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 50)
    await _mark_sent(api.db, campaign_id, 20)
    await api.client.post(f"/app/campaigns/{campaign_id}/abort", data={"csrf_token": token})
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert 'id="campaign-status">aborted<' in page
    assert (_part(page, "sent"), _part(page, "cancelled"), _part(page, "remaining")) == (20, 30, 0)
    assert 'class="sent" style="width: 40.0%"' in page and 'class="cancelled" style="width: 60.0%"' in page
    assert 'aria-valuetext="20 sent, 30 cancelled of 50"' in page
    assert _buttons(page) == {">Duplicate<"}


async def test_the_live_part_follows_sending_and_asks_for_a_reload_when_the_state_changes(api, tenant):
    await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 10)
    live = await api.client.get(f"/app/campaigns/{campaign_id}/progress?status=sending")
    assert 'hx-trigger="every 1s"' in live.text and "<dd>10</dd>" in live.text  # Recipients card
    assert re.search(r'data-metric="sent"><dt>Sent</dt><dd>0<', live.text)
    await _mark_sent(api.db, campaign_id, 4)
    live = await api.client.get(f"/app/campaigns/{campaign_id}/progress?status=sending")
    assert (
        re.search(r'data-metric="sent"><dt>Sent</dt><dd>4<', live.text) and _part(live.text, "remaining") == 6
    )
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert _buttons(page) == {">Pause<", ">Abort<", ">Duplicate<"}
    await api.client.post(f"/v1/campaigns/{campaign_id}/pause", headers=tenant.headers)
    stale = await api.client.get(f"/app/campaigns/{campaign_id}/progress?status=sending")
    assert stale.status_code == 204 and stale.headers["hx-refresh"] == "true"
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert _buttons(page) == {">Resume<", ">Abort<", ">Duplicate<"}


async def test_analytics_cards_are_labelled_in_reading_order_with_rates(api, tenant):
    await _login(api, tenant)
    campaign_id = await start_campaign(api.db, tenant.project_id, 4)
    await _mark_sent(api.db, campaign_id, 4)
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    labels = re.findall(r"<dt>([^<]+)</dt>", page[page.index('class="stats"') :])
    assert labels[:6] == ["Recipients", "Sent", "Delivered", "Opened", "Clicked", "Bounced"]
    assert "humanOpened" not in page and "spamReported</dt>" not in page
    assert re.search(r'data-metric="opened"><dt>Opened</dt><dd>0 <small>0.0 %</small>', page)


async def test_a_draft_offers_send_schedule_edit_duplicate_delete(api, tenant):
    token = await _login(api, tenant)
    campaign_id = await _draft(api, tenant)
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert _buttons(page) == {"Send now", ">Edit<", ">Duplicate<", ">Delete<", "Schedule for later"}
    copied = await api.client.post(f"/app/campaigns/{campaign_id}/duplicate", data={"csrf_token": token})
    copy_id = copied.headers["location"].rsplit("/", 1)[1]
    assert (
        copy_id != campaign_id and "Copy of Spring" in (await api.client.get(copied.headers["location"])).text
    )
    deleted = await api.client.post(f"/app/campaigns/{copy_id}/delete", data={"csrf_token": token})
    assert deleted.headers["location"] == "/app/campaigns"
    assert (await api.client.get(f"/v1/campaigns/{copy_id}", headers=tenant.headers)).status_code == 404


async def test_send_now_asks_for_confirmation_with_the_recipient_count(api, tenant):
    token = await _login(api, tenant)
    list_id = await seed_list(api.db, tenant.project_id, 7)
    campaign_id = await _draft(api, tenant, list_id)
    unconfirmed = await api.client.post(f"/app/campaigns/{campaign_id}/send", data={"csrf_token": token})
    assert unconfirmed.headers["location"] == f"/app/campaigns/{campaign_id}/send"
    assert (await campaign_row(api.db, campaign_id))["status"] == "draft"
    confirm = (await api.client.get(f"/app/campaigns/{campaign_id}/send")).text
    assert "Send to 7 recipients" in confirm and 'id="recipient-count"><strong>7</strong>' in confirm
    await api.client.post(f"/app/campaigns/{campaign_id}/send", data={"csrf_token": token, "confirm": "7"})
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert 'id="campaign-status">scheduled<' in page and 'id="starts-in"' in page
    assert re.search(r"in \d+ seconds", page)
    assert "Send confirmed for 7 recipients" in page


async def test_send_confirmation_lists_what_blocks_the_send(api, tenant):
    await _login(api, tenant)
    campaign_id = await _draft(api, tenant)  # no recipients
    confirm = (await api.client.get(f"/app/campaigns/{campaign_id}/send")).text
    assert (
        "cannot be sent yet" in confirm
        and "Send to: recipients" in confirm
        and 'name="confirm"' not in confirm
    )


async def test_a_start_in_the_past_is_refused_and_local_times_use_their_zone(api, tenant):
    token = await _login(api, tenant)
    list_id = await seed_list(api.db, tenant.project_id, 2)
    campaign_id = await _draft(api, tenant, list_id)
    past = await api.client.post(
        f"/app/campaigns/{campaign_id}/schedule",
        data={"csrf_token": token, "scheduledAt": "2020-01-01T09:00", "timezone": "Europe/Paris"},
    )
    assert past.status_code == 400  # the page again, the message next to the date
    assert "has already passed" in past.text and 'id="campaign-status">draft<' in past.text
    bad_zone = await api.client.post(
        f"/app/campaigns/{campaign_id}/schedule",
        data={"csrf_token": token, "scheduledAt": "2099-01-01T09:00", "timezone": "Mars/Olympus"},
    )
    assert bad_zone.status_code == 400 and "Choose a time zone" in bad_zone.text
    assert (await campaign_row(api.db, campaign_id))["status"] == "draft"
    soon = utcnow() + timedelta(days=30)
    await api.client.post(
        f"/app/campaigns/{campaign_id}/schedule",
        data={"csrf_token": token, "scheduledAt": "2099-07-01T09:30", "timezone": "Europe/Paris"},
    )
    row = await campaign_row(api.db, campaign_id)
    assert row["status"] == "scheduled" and row["scheduled_at"].isoformat() == "2099-07-01T07:30:00+00:00"
    assert row["scheduled_at"] > soon
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert "data-browser-zone" in page and '<option value="Europe/Paris"' in page
    assert _buttons(page) == {">Edit<", ">Abort<", ">Duplicate<"} and "Change the start" in page


async def test_actions_on_another_projects_campaign_are_not_found(api, tenant, other_tenant):
    token = await _login(api, tenant)
    theirs = await _draft(api, other_tenant)
    for path in ("send", "progress"):
        assert (await api.client.get(f"/app/campaigns/{theirs}/{path}")).status_code == 404
    for action in ("duplicate", "delete", "schedule"):
        answer = await api.client.post(
            f"/app/campaigns/{theirs}/{action}",
            data={"csrf_token": token, "scheduledAt": "2099-01-01T09:00", "timezone": "UTC"},
        )
        assert answer.status_code == 404, action
    assert (await api.client.get(f"/v1/campaigns/{theirs}", headers=other_tenant.headers)).status_code == 200


async def test_a_scheduled_campaign_can_be_unscheduled_back_to_a_draft_and_never_starts(api, tenant):
    token = await _login(api, tenant)
    list_id = await seed_list(api.db, tenant.project_id, 3)
    campaign_id = await _draft(api, tenant, list_id)
    start = (utcnow() + timedelta(hours=2)).isoformat()
    scheduled = await api.client.patch(
        f"/v1/campaigns/{campaign_id}", headers=tenant.headers, json={"scheduledAt": start}
    )
    assert scheduled.json()["data"]["status"] == "scheduled", scheduled.text
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert ">Unschedule<" in page
    await api.client.post(f"/app/campaigns/{campaign_id}/unschedule", data={"csrf_token": token})
    row = await campaign_row(api.db, campaign_id)
    assert row["status"] == "draft" and row["scheduled_at"] is None
    page = (await api.client.get(f"/app/campaigns/{campaign_id}")).text
    assert ">Unschedule<" not in page and "Send now" in page
    await api.client.post(
        f"/app/campaigns/{campaign_id}/unschedule", data={"csrf_token": token}
    )  # wrong state
    assert (await campaign_row(api.db, campaign_id))["status"] == "draft"


def _funnel(html: str) -> dict[str, str]:
    """Each funnel step's text, whitespace squeezed."""
    steps = re.findall(r'<li data-step="(\w+)">(.*?)</li>', html[html.index('class="funnel"') :], re.DOTALL)
    return {key: " ".join(re.sub(r"<[^>]+>", " ", body).split()) for key, body in steps}


async def test_the_funnel_shows_each_step_with_its_rate_and_follows_the_progress(api, tenant):
    await _login(api, tenant)
    campaign_id, rows = await sent_campaign(api.db, tenant.project_id, 10)
    assert (
        _funnel((await api.client.get(f"/app/campaigns/{campaign_id}")).text)["opened"]
        == "Opened 0 0.0 % of delivered"
    )
    await analytics_feedback(api, tenant, rows)  # 9 delivered, 4 opened, 2 clicked
    live = (await api.client.get(f"/app/campaigns/{campaign_id}/progress")).text
    assert _funnel(live) == {
        "sent": "Sent 10",
        "delivered": "Delivered 9 90.0 % of sent",
        "opened": "Opened 4 44.4 % of delivered",
        "clicked": "Clicked 2 50.0 % of opened · 22.2 % of delivered",
    }
    assert re.search(r'data-step="opened">.*?style="width: 40.0%"', live, re.DOTALL)


async def test_the_funnel_says_when_opens_and_clicks_are_not_tracked(api, tenant):
    await _login(api, tenant)
    campaign_id, rows = await sent_campaign(
        api.db, tenant.project_id, 10, trackingOpen=False, trackingClick=False
    )
    await analytics_feedback(api, tenant, rows)
    steps = _funnel((await api.client.get(f"/app/campaigns/{campaign_id}")).text)
    assert steps["opened"] == "Opened not tracked for this campaign"
    assert steps["clicked"] == "Clicked not tracked for this campaign"
    assert steps["delivered"] == "Delivered 9 90.0 % of sent"


async def test_the_from_address_is_picked_from_the_senders(api, tenant):
    token = await _login(api, tenant)
    assert 'id="fromSenderId"' not in (await api.client.get("/app/campaigns/new")).text  # none yet: typed
    sender = (
        await api.client.post(
            "/v1/senders", headers=tenant.headers, json={"email": "news@shop.example", "name": "Shop news"}
        )
    ).json()["data"]["sender"]
    form = (await api.client.get("/app/campaigns/new")).text
    assert f'<option value="{sender["id"]}" >Shop news &lt;news@shop.example&gt;</option>' in form
    made = await api.client.post(
        "/app/campaigns/new",
        data={
            "csrf_token": token,
            "name": "Picked",
            "subject": "Hi",
            "fromSenderId": sender["id"],
            "fromEmail": "ignored@shop.example",
            "htmlTemplate": "<p>Hi</p>",
        },
    )
    campaign_id = made.headers["location"].rsplit("/", 1)[1]
    row = await campaign_row(api.db, campaign_id)
    assert (row["from_sender_id"], row["from_email"], row["from_name"]) == (
        sender["id"],
        "news@shop.example",
        "Shop news",
    )
    await api.client.post(
        f"/app/campaigns/{campaign_id}/edit",
        data={
            "csrf_token": token,
            "name": "Picked",
            "subject": "Hi",
            "fromSenderId": "",
            "fromEmail": "other@shop.example",
            "htmlTemplate": "<p>Hi</p>",
        },
    )
    row = await campaign_row(api.db, campaign_id)
    assert (row["from_sender_id"], row["from_email"]) == (None, "other@shop.example")


async def test_a_poll_between_an_action_and_its_page_leaves_the_message_for_the_page(api, tenant):
    token = await _login(api, tenant)
    campaign_id = await _draft(api, tenant)
    await api.client.post(f"/app/campaigns/{campaign_id}/duplicate", data={"csrf_token": token})
    poll = await api.client.get(f"/app/campaigns/{campaign_id}/progress", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "Saved a copy" not in poll.text
    assert "Saved a copy as the draft" in (await api.client.get("/app/campaigns")).text
