"""Every webhook event of reference §10.2 (but email.received) from real actions, on both databases.

One project subscribes a webhook on a real HTTP receiver (127.0.0.1) to every event; then the
contacts API and a CSV import change contacts; a campaign goes through a real SMTP sink with the
worker and its recipients open, click, one-click unsubscribe and answer with a DSN and an ARF
report over SMTP to the inbound receiver; a bulk transactional send meets an SMTP-time 550 and a
452 (deferral), and its delivered recipient unsubscribes from a group by one-click and resubscribes
on the preference page. The dispatcher runs in the background all along. Each delivery is checked
byte for byte: the Standard Webhooks signature (the `standardwebhooks` package), the hex HMAC-SHA256
of the raw body, the X-Webhook-* headers, and the payload fields of its event. A receiver holding
the wrong secret rejects every delivery, and a tampered body fails both checks.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import re
from collections import Counter
from datetime import datetime

import httpx2
import orjson
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sendhouse.app import create_app
from sendhouse.domain import webhooks as rules
from sendhouse.services import imports
from sendhouse.services import projects as project_service
from sendhouse.services.webhooks import dispatcher_part
from sendhouse.store.schema.campaigns import messages
from tests.support.feedback_data import inbound_receiver, smtp_deliver
from tests.support.http_receiver import HttpReceiver, Received
from tests.support.reports import arf, dsn
from tests.support.sending_data import container_for, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink

PUBLIC = "http://sendhouse.test"
EVENTS = [e for e in rules.EVENTS if e != "email.received"]
SMTP_REPLIES = {
    "hard@example.org": "550 5.1.1 <hard@example.org>: user unknown",
    "full@example.org": "452 4.2.2 <full@example.org>: mailbox full",
}
EXPECTED = {
    "contact.created": 4,
    "contact.updated": 2,
    "contact.deleted": 2,
    "email.sent": 3,
    "email.delivered": 3,
    "email.deferred": 1,
    "email.bounced": 2,
    "email.opened": 1,
    "email.clicked": 1,
    "email.spam_reported": 1,
    "email.unsubscribed": 1,
    "email.group_unsubscribed": 1,
    "email.group_resubscribed": 1,
}


# --- checking one delivery ------------------------------------------------------------------


def verified(request: Received, secret: str) -> dict:
    """The body of a delivery whose every signature and header is right (asserts otherwise)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = Webhook(secret).verify(request.body, request.headers)
    expected_hmac = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-webhook-signature"], expected_hmac)
    assert headers["x-webhook-event"] == body["type"]
    assert headers["x-webhook-delivery-id"] == headers["webhook-id"]
    assert int(headers["x-webhook-timestamp"]) // 1000 == int(headers["webhook-timestamp"])
    assert headers["content-type"] == "application/json" and "Sendhouse" in headers["user-agent"]
    assert (
        request.method == "POST" and request.path == "/hook" and sorted(body) == ["createdAt", "data", "type"]
    )
    datetime.fromisoformat(body["createdAt"])
    return body


def rejected_with(request: Received, wrong_secret: str) -> bool:
    """True when a receiver holding `wrong_secret` refuses the delivery by both schemes."""
    with pytest.raises(WebhookVerificationError):
        Webhook(wrong_secret).verify(request.body, request.headers)
    digest = hmac.new(wrong_secret.encode(), request.body, hashlib.sha256).hexdigest()
    return not hmac.compare_digest(
        digest, {k.lower(): v for k, v in request.headers.items()}["x-webhook-signature"]
    )


# --- the actions ----------------------------------------------------------------------------


async def _contact_actions(client, headers: dict, db, project_id: str) -> dict:
    """created ×4 (API ×3, import ×1), updated ×2 (API, import), deleted ×2 (by userId, /remove)."""

    async def post(path: str, body: dict) -> dict:
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    ann = await post("/v1/contacts", {"email": "ann@example.net", "firstName": "Ann", "userId": "u-ann"})
    await post("/v1/contacts/email", {"email": "ann@example.net", "lastName": "Lee"})
    bob = await post("/v1/contacts", {"email": "bob@example.net"})
    dana = await post("/v1/contacts", {"email": "dana@example.net", "firstName": "Dana"})
    assert (await client.delete("/v1/contacts/email/userId/u-ann", headers=headers)).status_code == 200
    assert await post("/v1/contacts/remove", {"emails": ["bob@example.net", "nobody@example.net"]})
    report = await imports.import_rows(
        db,
        project_id,
        ["email", "first name", "last name"],
        iter([(2, ["carl@example.net", "Carl", ""]), (3, ["dana@example.net", "Dee", "Doe"])]),
    )
    assert (report.imported, report.failed) == (2, 0)
    return {"ann": ann["id"], "bob": bob["id"], "dana": dana["id"]}


def _parts(received) -> dict:
    """Recipient, return path, Message-ID, tracking URLs and the one-click URL of a sent message."""
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    return {
        "rcpt": received.rcpt_to[0],
        "mail_from": received.mail_from,
        "message_id": str(message["Message-ID"]),
        "pixels": re.findall(r'src="(' + PUBLIC + r'/t/o/[^"]+)"', html),
        "clicks": re.findall(r'href="(' + PUBLIC + r'/t/c/[^"]+)"', html),
        "one_click": re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))[0],
    }


async def _bulk_send(client, headers: dict) -> dict:
    group = await client.post("/v1/suppression-groups", json={"name": "Receipts"}, headers=headers)
    assert group.status_code == 200, group.text
    body = {
        "from": {"email": "team@example.org", "name": "Team"},
        "subject": "Receipt",
        "html": "<p>Thanks</p>",
        "unsubscribeGroupId": group.json()["data"]["groupId"],
        "recipients": [
            {"email": "ok@example.org", "name": "Ok Person"},
            {"email": "hard@example.org"},
            {"email": "full@example.org", "name": "Full"},
        ],
    }
    response = await client.post("/v1/mails/bulk", json=body, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    return {
        "batch": data["batchId"],
        "group": body["unsubscribeGroupId"],
        **dict(zip(("ok", "hard", "full"), data["emailIds"], strict=False)),
    }


async def _recipient_actions(client, inbound_port: int, by_rcpt: dict, group_code: str) -> None:
    """user0 opens, clicks and bounces (DSN); user1 one-click unsubscribes and reports spam (ARF);
    ok@ unsubscribes from the batch's group by one-click and resubscribes on the preference page."""
    user0, user1, ok = by_rcpt["user0@example.com"], by_rcpt["user1@example.com"], by_rcpt["ok@example.org"]
    assert (await client.get(user0["pixels"][0])).status_code == 200
    assert (await client.get(user0["clicks"][0], follow_redirects=False)).status_code == 302
    for target in (user1, ok):
        done = await client.post(target["one_click"], data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
    preference = re.search(r'(/u/p/[^"\s<]+)', done.text).group(1)
    assert f'name="groupId" value="{group_code}"' in (await client.get(preference)).text
    changed = await client.post(preference, data={"action": "resubscribe", "groupId": group_code})
    assert changed.status_code == 200 and "You are resubscribed" in changed.text
    for part, report in ((user0, dsn), (user1, arf)):
        await smtp_deliver(
            inbound_port,
            part["mail_from"],
            report(to=part["mail_from"], recipient=part["rcpt"], message_id=part["message_id"]),
        )


async def _campaign_rows(db, campaign_id: str) -> dict:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.email, messages.c.id).where(messages.c.campaign_id == campaign_id)
        )
        return dict(rows.all())


# --- expected payloads ----------------------------------------------------------------------


def _expected_email(event: str, data: dict, ids: dict) -> dict:
    """The §10.2 data the test knows for this recipient (extras checked by `_check_extras`)."""
    to = data["to"]["email"]
    if to.endswith("@example.com"):
        common = {
            "emailId": ids["rows"][to],
            "from": "news@example.com",
            "subject": "Hello",
            "to": {"email": to, "name": to.partition("@")[0].capitalize()},
            "campaignId": ids["campaign"],
        }
    else:
        names = {"ok@example.org": "Ok Person", "hard@example.org": None, "full@example.org": "Full"}
        common = {
            "emailId": ids["batch_ids"][to.partition("@")[0]],
            "from": "team@example.org",
            "subject": "Receipt",
            "to": {"email": to, "name": names[to]},
            "batchId": ids["batch_ids"]["batch"],
        }
    extras = {key: data[key] for key in rules.EMAIL_EXTRA_FIELDS.get(event, ())}
    return {**common, "test": False, **extras}


def _check_extras(event: str, data: dict) -> None:
    if event == "email.deferred":
        assert data["delayType"] == "MailboxFull" and data["delayReason"].startswith("452")
        datetime.fromisoformat(data["expirationTime"])
    if event == "email.bounced":
        assert (data["bounceType"], data["bounceSubType"]) == ("Permanent", "NoEmail")
        assert (
            data["reason"].startswith("550 5.1.1")
            if data["to"]["email"] == "hard@example.org"
            else data["reason"]
        )
    if event == "email.clicked":
        assert data["clickedUrl"] == "https://example.com/x"
    if event == "email.spam_reported":
        assert data["complaintType"] == "abuse"


def _email_events(bodies: list[dict], ids: dict) -> dict[str, list[str]]:
    """Check every email.* payload; returns {event: sorted recipients}."""
    seen: dict[str, list[str]] = {}
    for body in bodies:
        event, data = body["type"], body["data"]
        if event in rules.EMAIL_EVENTS:
            assert data == _expected_email(event, data, ids), event
            _check_extras(event, data)
            seen.setdefault(event, []).append(data["to"]["email"])
    return {event: sorted(who) for event, who in seen.items()}


def _others(bodies: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for body in bodies:
        if body["type"] not in rules.EMAIL_EVENTS:
            found.setdefault(body["type"], []).append(body["data"])
    return {event: sorted(items, key=orjson.dumps) for event, items in found.items()}


# --- the tests ------------------------------------------------------------------------------


async def _run_everything(container, app, receiver: HttpReceiver, sink: SmtpSink) -> tuple[str, dict]:
    transport = httpx2.ASGITransport(app=app)
    project = await project_service.create_project(container.db, name="hooks")
    _, key = await project_service.create_api_key(container.db, project_id=project["id"])
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        app.router.lifespan_context(app),
        inbound_receiver(container) as (_h, port),
        dispatcher_part(container, poll_interval=0.05),
        httpx2.AsyncClient(transport=transport, base_url=PUBLIC) as client,
    ):
        created = await client.post(
            "/v1/webhooks", json={"url": receiver.url(), "events": EVENTS}, headers=headers
        )
        assert created.status_code == 201, created.text
        ids = {"contacts": await _contact_actions(client, headers, container.db, project["id"])}
        ids["campaign"] = await start_campaign(container.db, project["id"], 2)
        ids["batch_ids"] = await _bulk_send(client, headers)
        async with running(container):
            await wait_for(lambda: _delivered(sink, 3), timeout=30)
        by_rcpt = {m.rcpt_to[0]: _parts(m) for m in sink.messages}
        await _recipient_actions(client, port, by_rcpt, ids["batch_ids"]["group"])
        await app.state.tracking.recorder.flush()
        ids["rows"] = await _campaign_rows(container.db, ids["campaign"])
        await receiver.arrived(sum(EXPECTED.values()), timeout=30)
    return created.json()["data"]["webhook"]["secret"], ids


async def _delivered(sink: SmtpSink, count: int) -> bool:
    return len(sink.messages) >= count


async def test_every_event_reaches_the_receiver_as_documented(settings):
    with HttpReceiver() as receiver, SmtpSink(rcpt_reply=SMTP_REPLIES.get) as sink:
        container = container_for(
            settings,
            smtp_url=sink.url,
            automated_open_window=0,
            bounce_domain="bounces.sendhouse.test",
            webhook_retry_schedule="",
            require_verified_domain=False,
        )  # senders on example.com, never verified
        app = create_app(container=container)
        try:
            secret, ids = await _run_everything(container, app, receiver, sink)
        finally:
            await container.close()
        got = list(receiver.requests)
    bodies = [verified(request, secret) for request in got]
    assert all(rejected_with(request, rules.new_secret()) for request in got)
    assert len({request.headers["webhook-id"] for request in got}) == len(got)
    assert Counter(body["type"] for body in bodies) == EXPECTED
    assert _email_events(bodies, ids) == {
        "email.sent": ["ok@example.org", "user0@example.com", "user1@example.com"],
        "email.delivered": ["ok@example.org", "user0@example.com", "user1@example.com"],
        "email.deferred": ["full@example.org"],
        "email.bounced": ["hard@example.org", "user0@example.com"],
        "email.opened": ["user0@example.com"],
        "email.clicked": ["user0@example.com"],
        "email.spam_reported": ["user1@example.com"],
    }
    others = _others(bodies)
    batch = ids["batch_ids"]
    assert others["email.unsubscribed"] == [
        {"emailId": ids["rows"]["user1@example.com"], "test": False, "campaignId": ids["campaign"]}
    ]
    group_event = {
        "emailId": batch["ok"],
        "test": False,
        "unsubscribeGroupId": batch["group"],
        "batchId": batch["batch"],
    }
    assert others["email.group_unsubscribed"] == others["email.group_resubscribed"] == [group_event]
    _check_contact_events(others, ids["contacts"])


def _check_contact_events(others: dict, contacts: dict) -> None:
    created = {d["email"]: d for d in others["contact.created"]}
    assert sorted(created) == ["ann@example.net", "bob@example.net", "carl@example.net", "dana@example.net"]
    assert created["ann@example.net"] == {
        "contactId": contacts["ann"],
        "email": "ann@example.net",
        "name": "Ann",
    }
    assert (
        created["carl@example.net"]["name"] == "Carl" and len(created["carl@example.net"]["contactId"]) == 24
    )
    assert others["contact.updated"] == sorted(
        [
            {
                "contactId": contacts["ann"],
                "email": "ann@example.net",
                "name": "Ann Lee",
                "changedFields": ["lastName"],
            },
            {
                "contactId": contacts["dana"],
                "email": "dana@example.net",
                "name": "Dee Doe",
                "changedFields": ["firstName", "lastName"],
            },
        ],
        key=orjson.dumps,
    )
    assert others["contact.deleted"] == sorted(
        [
            {"contactId": contacts["ann"], "email": "ann@example.net", "name": "Ann Lee"},
            {"contactId": contacts["bob"], "email": "bob@example.net", "name": None},
        ],
        key=orjson.dumps,
    )


async def test_a_wrong_secret_or_a_tampered_body_is_rejected(api, tenant):
    with HttpReceiver() as receiver:
        async with dispatcher_part(api.container, poll_interval=0.05):
            hook = await api.client.post(
                "/v1/webhooks", json={"url": receiver.url(), "events": EVENTS}, headers=tenant.headers
            )
            secret = hook.json()["data"]["webhook"]["secret"]
            for name in ("eve", "mallory"):
                await api.client.post(
                    "/v1/contacts", json={"email": f"{name}@example.net"}, headers=tenant.headers
                )
            got = await receiver.arrived(2)
    assert len(got) == 2 and [verified(r, secret)["type"] for r in got] == ["contact.created"] * 2
    for request in got:
        assert rejected_with(request, rules.new_secret())
        tampered = request.body.replace(b"@example.net", b"@evil.example")
        assert tampered != request.body
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, request.headers)
        digest = hmac.new(secret.encode(), tampered, hashlib.sha256).hexdigest()
        assert not hmac.compare_digest(digest, request.headers["X-Webhook-Signature"])
