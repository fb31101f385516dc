"""Unsubscribe (RFC 8058) and the preference page over HTTP on both databases: GET changes nothing,
POST List-Unsubscribe=One-Click suppresses in the mail's group (or globally), events, webhooks,
campaign metrics, resubscribe, bad tokens, and the List-Unsubscribe mailto over SMTP."""

from __future__ import annotations

from sendhouse.domain import tokens
from sendhouse.services import suppressions as suppression_service
from tests.support.feedback_data import (
    deliveries,
    events_of,
    inbound_receiver,
    preference_path,
    sent_campaign,
    smtp_deliver,
    subscribe_all,
    suppressed,
    unsubscribe_path,
    unsubscribe_rcpt,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


async def _group(api, tenant, name="Newsletter") -> str:
    made = await api.client.post("/v1/suppression-groups", json={"name": name}, headers=tenant.headers)
    return made.json()["data"]["groupId"]


async def _global_code(api, tenant) -> str:
    groups = (await api.client.get("/v1/suppression-groups", headers=tenant.headers)).json()["data"]["groups"]
    return next(g["groupId"] for g in groups if g["isGlobal"])


async def test_get_shows_a_confirm_page_and_changes_nothing(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    page = await api.client.get(unsubscribe_path(rows[0]))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text and 'method="post"' in page.text
    assert rows[0]["email"] in page.text
    assert await suppressed(api.db, tenant.project_id) == set()
    assert await events_of(api.db, type="unsubscribed") == []


async def test_one_click_post_unsubscribes_globally_with_event_webhook_and_metrics(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 3)
    await subscribe_all(api.db, tenant.project_id)
    done = await api.client.post(unsubscribe_path(rows[0]), data=ONE_CLICK)
    again = await api.client.post(unsubscribe_path(rows[0]), data=ONE_CLICK)
    assert done.status_code == 200 and "unsubscribed" in done.text and again.status_code == 200
    assert await suppressed(api.db, tenant.project_id) == {
        (rows[0]["email"], await _global_code(api, tenant), "UNSUBSCRIBE")
    }
    assert [e["message_id"] for e in await events_of(api.db, type="unsubscribed")] == [rows[0]["id"]]
    assert [(e, d["emailId"], d["campaignId"]) for e, d in await deliveries(api.db, tenant.project_id)] == [
        ("email.unsubscribed", rows[0]["id"], cid)
    ]
    analytics = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()[
        "data"
    ]
    assert analytics["counts"]["unsubscribed"] == 1 and analytics["rates"]["unsubscribedRate"] == 33.33
    campaign = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert campaign["metrics"]["unsubscribed"] == 1


async def test_one_click_in_the_mails_group_suppresses_only_there(api, tenant):
    group = await _group(api, tenant)
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1, unsubscribeGroupId=group)
    await subscribe_all(api.db, tenant.project_id)
    assert (await api.client.post(unsubscribe_path(rows[0], group), data=ONE_CLICK)).status_code == 200
    assert await suppressed(api.db, tenant.project_id) == {(rows[0]["email"], group, "UNSUBSCRIBE")}
    [(event, data)] = await deliveries(api.db, tenant.project_id)
    assert event == "email.group_unsubscribed" and data["unsubscribeGroupId"] == group


async def test_post_without_one_click_and_bad_tokens_change_nothing(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    wrong_body = await api.client.post(unsubscribe_path(rows[0]), data={"List-Unsubscribe": "Yes"})
    assert wrong_body.status_code == 400
    token = unsubscribe_path(rows[0]).removeprefix(tokens.UNSUBSCRIBE_PATH)
    preference_token = preference_path(rows[0]).removeprefix(tokens.PREFERENCE_PATH)
    forged = tokens.sign_unsubscribe(
        "another-secret", tokens.UnsubscribeTarget(tenant.project_id, rows[0]["email"], None, rows[0]["id"])
    )
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), forged, preference_token, "nope"):
        assert (await api.client.post(tokens.UNSUBSCRIBE_PATH + bad, data=ONE_CLICK)).status_code == 404
        assert (await api.client.get(tokens.UNSUBSCRIBE_PATH + bad)).status_code == 404
    assert (await api.client.get(tokens.PREFERENCE_PATH + token)).status_code == 404
    assert await suppressed(api.db, tenant.project_id) == set()


async def test_preference_page_lists_groups_and_unsubscribes_and_resubscribes(api, tenant):
    news, offers = await _group(api, tenant, "News"), await _group(api, tenant, "Offers")
    await api.client.put(f"/v1/suppression-groups/{offers}", json={"isActive": False}, headers=tenant.headers)
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1, unsubscribeGroupId=news)
    await subscribe_all(api.db, tenant.project_id)
    path = preference_path(rows[0], news)
    page = await api.client.get(path)
    assert page.status_code == 200 and "News" in page.text and "Offers" not in page.text
    assert page.text.count('value="unsubscribe"') == 3  # the global group, the default group and News
    left = await api.client.post(path, data={"action": "unsubscribe", "groupId": news})
    assert left.status_code == 200 and 'value="resubscribe"' in left.text
    assert await suppressed(api.db, tenant.project_id) == {(rows[0]["email"], news, "UNSUBSCRIBE")}
    back = await api.client.post(path, data={"action": "resubscribe", "groupId": news})
    assert back.status_code == 200 and await suppressed(api.db, tenant.project_id) == set()
    events = [e for e, _d in await deliveries(api.db, tenant.project_id)]
    assert events == ["email.group_unsubscribed", "email.group_resubscribed"]
    assert [e["type"] for e in await events_of(api.db, message_id=rows[0]["id"])] == [
        "unsubscribed",
        "resubscribed",
    ]


async def test_preference_page_refuses_bad_actions_and_never_lifts_a_complaint(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    code = await _global_code(api, tenant)
    async with api.db.write() as conn:
        await suppression_service.suppress(conn, tenant.project_id, rows[0]["email"], reason="COMPLAINT")
    path = preference_path(rows[0])
    page = await api.client.get(path)
    assert "Blocked (complaint)" in page.text and 'value="resubscribe"' not in page.text
    assert (await api.client.post(path, data={"action": "resubscribe", "groupId": code})).status_code == 200
    assert (await api.client.post(path, data={"action": "explode", "groupId": code})).status_code == 400
    assert (
        await api.client.post(path, data={"action": "unsubscribe", "groupId": "NOPE99"})
    ).status_code == 404
    assert await suppressed(api.db, tenant.project_id) == {(rows[0]["email"], code, "COMPLAINT")}


async def test_mail_to_the_list_unsubscribe_mailto_unsubscribes(api, tenant, container):
    group = await _group(api, tenant)
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2, unsubscribeGroupId=group)
    async with inbound_receiver(container) as (_host, port):
        await smtp_deliver(
            port,
            unsubscribe_rcpt(rows[1]["id"]),
            b"Subject: unsubscribe\r\n\r\nplease\r\n",
            sender=rows[1]["email"],
        )
    assert await suppressed(api.db, tenant.project_id) == {(rows[1]["email"], group, "UNSUBSCRIBE")}
    assert [e["message_id"] for e in await events_of(api.db, type="unsubscribed")] == [rows[1]["id"]]
