"""Mail accepted over SMTP submission follows the project's rules as `/v1/mails/send` does, on both
databases, checked up to what a real worker hands to an SMTP sink: suppressed recipients get
'suppressed' ledger rows (a suppressed To takes its Cc/Bcc along; the email's status is
`suppressed`) and are never delivered, exactly as for the same email sent through the API; the
project's tracking defaults (open pixel, click rewriting) apply to the delivered message."""

from __future__ import annotations

import asyncio
import email
import email.policy
import smtplib

import sqlalchemy as sa

from sendhouse.services import smtp_keys
from sendhouse.smtpd.submission import submission_part
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.core import projects
from tests.integration.test_mails_send import suppress
from tests.support.inbound_data import message
from tests.support.sending_data import container_for, running, wait_for
from tests.support.smtp_sink import SmtpSink, free_port

SENDER = "app@shop.example.com"
LINK = "https://shop.example.com/orders/7"
HTML = f'<html><body><p>Your order</p><a href="{LINK}">See it</a></body></html>'


async def submit(container, tenant, rcpts: list[str], raw: bytes) -> str:
    """The email id of `raw` accepted over SMTP for `rcpts`."""
    key = (await smtp_keys.create_key(container.db, project_id=tenant.project_id))[1]
    port = free_port()
    async with submission_part(container, f"127.0.0.1:{port}"):
        code, text = await asyncio.to_thread(_send_one, port, key, rcpts, raw)
    assert code == 250, text
    return text.decode().rsplit(" ", 1)[1]


def _send_one(port: int, key: str, rcpts: list[str], raw: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.login("autosend", key)
        assert client.mail(SENDER)[0] == 250
        for rcpt in rcpts:
            assert client.rcpt(rcpt)[0] == 250
        return client.data(raw)


async def statuses(db, email_id: str) -> dict[str, tuple[str, str]]:
    """recipient → (role, status) of every ledger row of one email."""
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(messages))).mappings().all()
    return {
        r["email"]: (r["payload"]["role"], r["status"]) for r in rows if r["payload"]["emailId"] == email_id
    }


async def delivered(settings, db, count: int) -> list:
    """Run a worker until the sink holds `count` messages (then a little longer, to catch extras)."""
    with SmtpSink() as sink:
        worker = container_for(settings, smtp_url=sink.url)
        try:
            async with running(worker, scheduler=False):
                await wait_for(lambda: _holds(sink, count))
                await wait_for(lambda: _nothing_queued(db))
        finally:
            await worker.close()
        return sink.messages


async def _holds(sink, count: int) -> bool:
    return len(sink.messages) >= count


async def _nothing_queued(db) -> bool:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(messages).where(messages.c.status == "queued")
        return (await conn.execute(query)).scalar() == 0


async def test_suppressed_recipients_over_smtp_are_kept_back_as_for_mails_send(
    api, tenant, container, settings
):
    await suppress(api, tenant.project_id, "ann@example.org")
    await suppress(api, tenant.project_id, "carol@example.org")
    first = message(sender=SENDER, to="ann@example.org", subject="One", headers={"Cc": "cc@example.org"})
    first_id = await submit(
        container, tenant, ["ann@example.org", "cc@example.org", "hidden@example.org"], first
    )
    second = message(sender=SENDER, to="bob@example.org", subject="Two", headers={"Cc": "carol@example.org"})
    second_id = await submit(container, tenant, ["bob@example.org", "carol@example.org"], second)
    assert await statuses(api.db, first_id) == {
        "ann@example.org": ("to", "suppressed"),
        "cc@example.org": ("cc", "suppressed"),
        "hidden@example.org": ("bcc", "suppressed"),
    }
    assert await statuses(api.db, second_id) == {
        "bob@example.org": ("to", "queued"),
        "carol@example.org": ("cc", "suppressed"),
    }
    # the same two emails through the API end the same way
    for body in (
        {
            "to": {"email": "ann@example.org"},
            "cc": [{"email": "cc@example.org"}],
            "bcc": [{"email": "hidden@example.org"}],
        },
        {"to": {"email": "bob@example.org"}, "cc": [{"email": "carol@example.org"}]},
    ):
        sent = await api.client.post(
            "/v1/mails/send",
            json={"from": {"email": SENDER}, "subject": "API", "text": "x", **body},
            headers=tenant.headers,
        )
        api_id = sent.json()["data"]["emailId"]
        smtp_id = first_id if body["to"]["email"] == "ann@example.org" else second_id
        assert await statuses(api.db, api_id) == await statuses(api.db, smtp_id)
    status = await api.client.get(f"/v1/mails/{first_id}/status", headers=tenant.headers)
    assert status.json()["data"]["status"] == "suppressed"
    received = await delivered(settings, api.db, 2)  # bob's, over SMTP and over the API
    assert sorted(r for m in received for r in m.rcpt_to) == ["bob@example.org", "bob@example.org"]
    assert (await statuses(api.db, second_id))["carol@example.org"] == ("cc", "suppressed")


async def _tracking(api, tenant, track_open: bool, track_click: bool) -> None:
    async with api.db.write() as conn:
        await conn.execute(
            projects.update()
            .where(projects.c.id == tenant.project_id)
            .values(tracking_open=track_open, tracking_click=track_click)
        )


def _html(received) -> str:
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    return parsed.get_body(("html",)).get_content()


async def test_the_projects_tracking_defaults_apply_to_mail_accepted_over_smtp(
    api, tenant, container, settings
):
    ids = {}
    for track_open, track_click, rcpt in (
        (True, False, "open@example.org"),
        (False, True, "click@example.org"),
    ):
        await _tracking(api, tenant, track_open, track_click)
        raw = message(sender=SENDER, to=rcpt, subject="Tracked", html=HTML)
        ids[rcpt] = await submit(container, tenant, [rcpt], raw)
    async with api.db.read() as conn:
        rows = (await conn.execute(sa.select(messages.c.email, messages.c.payload))).all()
    content = {email_: payload["content"] for email_, payload in rows}
    assert (content["open@example.org"]["trackingOpen"], content["open@example.org"]["trackingClick"]) == (
        True,
        False,
    )
    assert (content["click@example.org"]["trackingOpen"], content["click@example.org"]["trackingClick"]) == (
        False,
        True,
    )
    received = {m.rcpt_to[0]: _html(m) for m in await delivered(settings, api.db, 2)}
    public = settings.public_url.rstrip("/")
    opened, clicked = received["open@example.org"], received["click@example.org"]
    assert f"{public}/t/o/" in opened and "/t/c/" not in opened and f'href="{LINK}"' in opened
    assert "/t/o/" not in clicked and f'href="{public}/t/c/' in clicked and f'href="{LINK}"' not in clicked
