"""The open pixel and the click redirect over HTTP (ASGI) on both databases: recording unique and
total opens and clicks, automated opens, tampered and foreign tokens, no open redirect, the pixel
answering with a broken database, and the email.opened / email.clicked webhooks."""

from __future__ import annotations

import contextlib

from sendhouse.domain import tokens
from sendhouse.store.db import Database
from tests.support.feedback_data import (
    click_path,
    deliveries,
    events_of,
    open_path,
    sent_campaign,
    subscribe_all,
)
from tests.support.rendered_mail import rendered_body


def _recorder(api):
    return api.app.state.tracking.recorder


async def _fetch(api, path: str):
    return await api.client.get(path, follow_redirects=False)


def _is_pixel(response) -> bool:
    return (
        response.status_code == 200
        and response.headers["content-type"] == "image/gif"
        and response.content.startswith(b"GIF89a")
        and "no-store" in response.headers["cache-control"]
    )


async def test_opens_are_recorded_unique_and_total_per_recipient(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 3)
    await subscribe_all(api.db, tenant.project_id)
    for path in [open_path(rows[0]["id"])] * 3 + [open_path(rows[1]["id"])]:
        assert _is_pixel(await _fetch(api, path))
    await _recorder(api).flush()  # the app's own flush loop may have written some of them already
    opens = await events_of(api.db, campaign_id=cid, type="opened")
    assert sorted(e["message_id"] for e in opens) == sorted([rows[0]["id"]] * 3 + [rows[1]["id"]])
    assert {e["email"] for e in opens} == {rows[0]["email"], rows[1]["email"]}
    assert not any(e["is_automated"] for e in opens)
    analytics = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()[
        "data"
    ]
    assert analytics["counts"]["opened"] == 2 and analytics["counts"]["humanOpened"] == 2
    hooks = [(e, d["emailId"], d["campaignId"]) for e, d in await deliveries(api.db, tenant.project_id)]
    assert sorted(hooks) == sorted(
        [("email.opened", rows[0]["id"], cid)] * 3 + [("email.opened", rows[1]["id"], cid)]
    )


async def test_an_open_right_after_sending_is_automated(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 2, ago=1)
    await _fetch(api, open_path(rows[0]["id"]))
    await _recorder(api).flush()
    [event] = await events_of(api.db, campaign_id=cid, type="opened")
    assert event["is_automated"] is True
    counts = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()["data"][
        "counts"
    ]
    assert (counts["opened"], counts["humanOpened"]) == (1, 0)


async def test_tampered_and_foreign_open_tokens_get_the_pixel_and_record_nothing(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    genuine = tokens.sign_open("test-secret-key", rows[0]["id"])
    flipped = genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1]
    foreign = tokens.sign_open("another-secret", rows[0]["id"])
    click_kind = tokens.sign_click("test-secret-key", rows[0]["id"], "https://example.com/")
    for token in (flipped, foreign, click_kind, "x", "....", "%00"):
        assert _is_pixel(await _fetch(api, tokens.OPEN_PATH + token))
    await _recorder(api).flush()
    assert await events_of(api.db, type="opened") == []


async def test_pixel_answers_even_when_the_database_is_broken(api, tenant, tmp_path):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    recorder = _recorder(api)
    working = recorder.db
    recorder.db = Database(f"sqlite:///{tmp_path}/missing/dir/broken.db")  # cannot even open
    response = await _fetch(api, open_path(rows[0]["id"]))
    assert _is_pixel(response)
    for _ in range(3):  # each failed attempt keeps the hit until it has tried MAX_TRIES times
        with contextlib.suppress(Exception):  # the broken database is the point
            await recorder.flush()
    assert recorder.buffer == [] and recorder.dropped == 1
    await recorder.db.close()
    recorder.db = working
    assert _is_pixel(await _fetch(api, open_path(rows[0]["id"])))
    await recorder.flush()  # the app's own flush loop (every 0.1 s) may have written it already
    assert [e["message_id"] for e in await events_of(api.db, type="opened")] == [rows[0]["id"]]


async def test_click_redirects_only_to_the_signed_url_and_records_it(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    await subscribe_all(api.db, tenant.project_id)
    a, b = "https://example.com/a?x=1&y=%20z", "https://example.org/b"
    for row, url in ((rows[0], a), (rows[0], a), (rows[0], b), (rows[1], a)):
        response = await _fetch(api, click_path(row["id"], url))
        assert response.status_code == 302 and response.headers["location"] == url
    await _recorder(api).flush()
    clicks = await events_of(api.db, campaign_id=cid, type="clicked")
    assert sorted((e["message_id"], e["url"]) for e in clicks) == sorted(
        [(rows[0]["id"], a), (rows[0]["id"], a), (rows[0]["id"], b), (rows[1]["id"], a)]
    )
    counts = (await api.client.get(f"/v1/campaigns/{cid}/analytics", headers=tenant.headers)).json()["data"][
        "counts"
    ]
    assert counts["clicked"] == 2
    urls = sorted(
        d["clickedUrl"] for e, d in await deliveries(api.db, tenant.project_id) if e == "email.clicked"
    )
    assert urls == sorted([a, a, b, a])


async def test_click_tokens_cannot_be_bent_into_an_open_redirect(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    row_id = rows[0]["id"]
    signed = tokens.sign_click("test-secret-key", row_id, "https://example.com/a")
    payload, _, mac = signed.partition(".")
    forged_payload = tokens.sign_click("test-secret-key", row_id, "https://evil.example/").partition(".")[0]
    attempts = [
        forged_payload + "." + mac,  # URL B's payload under URL A's signature
        tokens.sign_click("another-secret", row_id, "https://evil.example/"),  # foreign secret
        tokens.sign_open("test-secret-key", row_id),  # another kind of token
        tokens.sign_click("test-secret-key", row_id, "javascript:alert(1)"),  # never followed
        payload + "." + mac + "x",
        "",
        "not-a-token",
    ]
    for token in attempts:
        response = await _fetch(api, tokens.CLICK_PATH + token)
        assert response.status_code in (404, 405) and "location" not in response.headers, token
    await _recorder(api).flush()
    assert await events_of(api.db, type="clicked") == []


def test_builder_never_signs_javascript_or_data_urls():
    body = rendered_body(
        '<a href="javascript:alert(1)">j</a><a href="data:text/html,x">d</a>'
        '<a href="https://example.com/ok">ok</a>',
        tracking_open=True,
    )
    assert 'href="javascript:alert(1)"' in body and 'href="data:text/html,x"' in body
    assert body.count("/t/c/") == 1
