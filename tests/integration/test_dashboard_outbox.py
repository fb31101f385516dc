"""The outbox over the ASGI app on both databases: a captured campaign message is shown without its
open pixel and with its links pointing at their targets (reading it records nothing), with the
real From header beside the VERP return path; the list filters by status, campaign and recipient."""

from __future__ import annotations

import html
import re

from tests.integration.test_dashboard_campaign_page import _login
from tests.support.sending_data import container_for, ledger_counts, running, start_campaign, wait_for

HTML = (
    '<html><body><h1>Hello {{first_name}}</h1><a href="https://shop.example/sale?a=1&amp;b=2">Sale</a>'
    "</body></html>"
)


async def _send_two_campaigns(api, tenant, settings) -> tuple[str, str]:
    first = await start_campaign(
        api.db,
        tenant.project_id,
        3,
        htmlTemplate=HTML,
        prefix="spring",
        **{"from": {"email": "news@shop.example", "name": "Shop News"}},
    )
    second = await start_campaign(
        api.db, tenant.project_id, 2, htmlTemplate=HTML, prefix="summer", name="Summer"
    )
    worker = container_for(settings, smtp_url="capture")
    try:
        async with running(worker):
            for campaign_id, size in ((first, 3), (second, 2)):
                await wait_for(lambda cid=campaign_id, n=size: _sent(api, cid, n))
    finally:
        await worker.close()
    return first, second


async def _sent(api, campaign_id: str, size: int) -> bool:
    return (await ledger_counts(api.db, campaign_id))["sent"] == size


def _rows(listing: str) -> list[str]:
    return re.findall(r'/app/outbox/([0-9a-f]{24})"', listing)


async def test_reading_a_message_loads_no_pixel_and_shows_the_real_from(api, tenant, settings):
    await _login(api, tenant)
    first, _ = await _send_two_campaigns(api, tenant, settings)
    listing = (await api.client.get(f"/app/outbox?campaign={first}")).text
    capture_id = _rows(listing)[0]
    raw = (await api.client.get(f"/app/outbox/{capture_id}/raw")).text
    assert "/t/o/" in raw and "/t/c/" in raw  # the message as sent is tracked
    page = (await api.client.get(f"/app/outbox/{capture_id}")).text
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', page)[1])
    assert "Hello User" in srcdoc and "/t/o/" not in srcdoc and "/t/c/" not in srcdoc
    assert 'href="https://shop.example/sale?a=1&amp;b=2"' in srcdoc
    text_part = re.search(r"<summary>Text part</summary><pre[^>]*>(.*?)</pre>", page, re.DOTALL)[1]
    assert "/t/c/" not in text_part and "https://shop.example/sale" in html.unescape(text_part)
    assert re.search(r'id="message-from" class="wrap">Shop News &lt;news@shop.example&gt;<', page)
    assert "bounces+" in page[page.index("Return path") :]


async def test_the_outbox_filters_by_campaign_recipient_and_status(api, tenant, settings):
    await _login(api, tenant)
    first, second = await _send_two_campaigns(api, tenant, settings)
    assert len(_rows((await api.client.get("/app/outbox")).text)) == 5
    assert len(_rows((await api.client.get(f"/app/outbox?campaign={first}")).text)) == 3
    assert len(_rows((await api.client.get(f"/app/outbox?campaign={second}")).text)) == 2
    by_recipient = (await api.client.get("/app/outbox?recipient=SUMMER1@")).text
    assert len(_rows(by_recipient)) == 1 and "summer1@example.com" in by_recipient
    assert len(_rows((await api.client.get("/app/outbox?status=sent")).text)) == 5
    none = (await api.client.get(f"/app/outbox?status=bounced&campaign={first}")).text
    assert _rows(none) == [] and "No message matches these filters" in none


async def test_another_projects_messages_stay_hidden(api, tenant, other_tenant, settings):
    await _send_two_campaigns(api, other_tenant, settings)
    theirs = _rows_of_outbox(settings)
    await _login(api, tenant)
    assert _rows((await api.client.get("/app/outbox")).text) == []
    assert (await api.client.get(f"/app/outbox/{theirs[0]}")).status_code == 404
    assert (await api.client.get(f"/app/outbox/{theirs[0]}/raw")).status_code == 404


def _rows_of_outbox(settings) -> list[str]:
    from sendhouse.delivery import capture

    entries, _ = capture.list_captured(settings.data_dir, limit=10)
    return [e["id"] for e in entries]
