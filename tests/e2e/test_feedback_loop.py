"""The whole feedback loop on both databases: a campaign goes through a real SMTP server with the
worker; the test reads the delivered messages, fetches their pixels and links over HTTP, posts a
one-click unsubscribe, mails the List-Unsubscribe address, delivers a DSN and an ARF report over
SMTP to the inbound receiver at the messages' VERP return paths, then checks analytics, the
suppression entries and stored webhooks, and that the next campaign skips every suppressed address.
A campaign with tracking off carries no pixel and no rewritten link."""

from __future__ import annotations

import email
import email.policy
import re
from collections import Counter

import httpx2

from sendhouse.app import create_app
from sendhouse.domain.times import utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from tests.support.feedback_data import deliveries, inbound_receiver, smtp_deliver, subscribe_all, suppressed
from tests.support.reports import arf, dsn
from tests.support.sending_data import campaign_row, container_for, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink

PUBLIC = "http://sendhouse.test"


def _parts(received) -> dict:
    """What the test needs of one delivered message: recipient, VERP, tracking and unsubscribe URLs."""
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    unsubscribe = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    return {
        "rcpt": received.rcpt_to[0],
        "mail_from": received.mail_from,
        "html": html,
        "message_id": str(message["Message-ID"]),
        "pixels": re.findall(r'src="(' + PUBLIC + r'/t/o/[^"]+)"', html),
        "clicks": re.findall(r'href="(' + PUBLIC + r'/t/c/[^"]+)"', html),
        "one_click": unsubscribe[0],
        "mailto": unsubscribe[1].removeprefix("mailto:"),
        "post_header": str(message["List-Unsubscribe-Post"]),
    }


async def _sent(container, cid):
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def _run(container, cid):
    async with running(container):
        await wait_for(lambda: _sent(container, cid), timeout=120)


async def _next_campaign(db, project_id: str, list_ids: list[str]) -> str:
    body = {
        "name": "Follow-up",
        "subject": "Again",
        "htmlTemplate": "<p>Again</p>",
        "from": {"email": "news@example.com"},
        "toLists": list_ids,
        "sendNow": True,
    }
    created = await campaign_service.create_campaign(db, project_id, body, send_now_delay=0)
    assert await campaign_service.start_campaign(db, created["id"], utcnow()) is not None
    return created["id"]


async def _act_as_recipients(client, inbound_port: int, by_rcpt: dict) -> None:
    """user0 and user1 open, user0 clicks, user2 one-click unsubscribes, user5 mails the unsubscribe
    address, user3's mailbox bounces (DSN), user4 reports spam (ARF)."""
    for who in ("user0", "user1"):
        assert (await client.get(by_rcpt[who]["pixels"][0])).status_code == 200
    click = await client.get(by_rcpt["user0"]["clicks"][0], follow_redirects=False)
    assert click.status_code == 302 and click.headers["location"] == "https://example.com/x"
    one_click = await client.post(by_rcpt["user2"]["one_click"], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    await smtp_deliver(
        inbound_port,
        by_rcpt["user5"]["mailto"],
        b"Subject: unsubscribe\r\n\r\n",
        sender=by_rcpt["user5"]["rcpt"],
    )
    for who, report in (("user3", dsn), ("user4", arf)):
        part = by_rcpt[who]
        await smtp_deliver(
            inbound_port,
            part["mail_from"],
            report(to=part["mail_from"], recipient=part["rcpt"], message_id=part["message_id"]),
        )


async def test_feedback_loop_end_to_end(settings):
    with SmtpSink() as sink:
        container = container_for(
            settings, smtp_url=sink.url, automated_open_window=0, bounce_domain="bounces.sendhouse.test"
        )
        app = create_app(container=container)
        try:
            project = await project_service.create_project(container.db, name="loop")
            _, key = await project_service.create_api_key(container.db, project_id=project["id"])
            headers = {"Authorization": f"Bearer {key}"}
            await subscribe_all(container.db, project["id"])
            cid = await start_campaign(container.db, project["id"], 6)
            await _run(container, cid)
            by_rcpt = {p["rcpt"].partition("@")[0]: p for p in map(_parts, sink.messages)}
            assert sorted(by_rcpt) == [f"user{i}" for i in range(6)]
            assert all(len(p["pixels"]) == 1 and len(p["clicks"]) == 1 for p in by_rcpt.values())
            assert all(
                p["mail_from"].startswith("bounces+")
                and p["mail_from"].endswith("@bounces.sendhouse.test")
                and p["post_header"] == "List-Unsubscribe=One-Click"
                for p in by_rcpt.values()
            )
            async with app.router.lifespan_context(app), inbound_receiver(container) as (_h, port):
                transport = httpx2.ASGITransport(app=app)
                async with httpx2.AsyncClient(transport=transport, base_url=PUBLIC) as client:
                    await _act_as_recipients(client, port, by_rcpt)
                    await app.state.tracking.recorder.flush()
                    analytics = (await client.get(f"/v1/campaigns/{cid}/analytics", headers=headers)).json()[
                        "data"
                    ]
            entries = {(e, r) for e, _g, r in await suppressed(container.db, project["id"])}
            stored = Counter(event for event, _data in await deliveries(container.db, project["id"]))

            list_ids = (await campaign_row(container.db, cid))["to_lists"]
            before = len(sink.messages)
            follow_up = await _next_campaign(container.db, project["id"], list_ids)
            await _run(container, follow_up)
            second = sorted(m.rcpt_to[0].partition("@")[0] for m in sink.messages[before:])
        finally:
            await container.close()
    assert analytics["counts"] == {
        "totalContacts": 6,
        "suppressed": 0,
        "failed": 0,
        "attempted": 6,
        "sent": 6,
        "delivered": 5,
        "opened": 2,
        "humanOpened": 2,
        "clicked": 1,
        "bounced": 1,
        "unsubscribed": 2,
        "spamReported": 1,
    }
    assert analytics["rates"]["bounceRate"] == 16.67 and analytics["rates"]["openRate"] == 40.0
    assert entries == {
        ("user2@example.com", "UNSUBSCRIBE"),
        ("user5@example.com", "UNSUBSCRIBE"),
        ("user3@example.com", "BOUNCE"),
        ("user4@example.com", "COMPLAINT"),
    }
    assert stored == {
        "email.sent": 6,
        "email.delivered": 6,
        "email.opened": 2,
        "email.clicked": 1,
        "email.unsubscribed": 2,
        "email.bounced": 1,
        "email.spam_reported": 1,
    }
    assert second == ["user0", "user1"]


async def test_tracking_off_means_no_pixel_and_no_rewritten_links(settings):
    with SmtpSink() as sink:
        container = container_for(settings, smtp_url=sink.url)
        try:
            project = await project_service.create_project(container.db, name="quiet")
            cid = await start_campaign(
                container.db, project["id"], 2, trackingOpen=False, trackingClick=False
            )
            await _run(container, cid)
        finally:
            await container.close()
    parts = [_parts(m) for m in sink.messages]
    assert len(parts) == 2
    for part in parts:
        assert part["pixels"] == [] and part["clicks"] == [] and "/t/" not in part["html"]
        assert 'href="https://example.com/x"' in part["html"] and part["one_click"].startswith(PUBLIC + "/u/")
