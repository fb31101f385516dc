"""Automation mail as delivered to a real SMTP server, on both databases (injected clock): the
automation's tracking flags (pixel and rewritten links only when on), and the per-step figures of
GET /v1/automations/{id} after a real delivery and an open and a click through the tracking
endpoints."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sendhouse.automation_runner import AutomationRunner
from sendhouse.domain import tokens
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.campaigns import messages
from tests.support.automation_data import automation, contact, mail_by_email
from tests.support.sending_data import container_for, running, wait_for
from tests.support.smtp_sink import SmtpSink

LINK = "https://docs.example.com/start?step=1"
HTML = f'<html><body><p>Hi {{{{first_name}}}}</p><a href="{LINK}">Start</a></body></html>'


@pytest.fixture
def settings(settings):
    """Opens count as human at once (no automated-open window), so the test can open right away."""
    return settings.model_copy(update={"automated_open_window": 0})


def _steps(subject: str, then_wait_days: int | None = None) -> list[dict]:
    steps = [
        {"type": "wait", "stepId": "w1", "delay": {"value": 0, "unit": "minutes"}},
        {
            "type": "email",
            "stepId": "e1",
            "email": {"htmlTemplate": HTML, "subject": subject, "senderEmail": "team@example.com"},
        },
    ]
    if then_wait_days is not None:
        steps += [
            {"type": "wait", "stepId": "w2", "delay": {"value": then_wait_days, "unit": "days"}},
            {
                "type": "email",
                "stepId": "e2",
                "email": {"htmlTemplate": HTML, "subject": "Later", "senderEmail": "team@example.com"},
            },
        ]
    return steps


async def _all_sent(db, n: int) -> bool:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).where(messages.c.status == "sent")
        return (await conn.execute(query)).scalar_one() >= n


async def _deliver(settings, sink: SmtpSink, db, n: int) -> None:
    """A worker delivers the queued ledger rows to the sink until n of them are sent."""
    container = container_for(settings, smtp_url=sink.url)
    try:
        async with running(container, scheduler=False):
            await wait_for(lambda: _all_sent(db, n))
    finally:
        await container.close()


def _html(data: bytes) -> str:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/html")
    return part.get_content()


def _received(sink: SmtpSink, address: str) -> list[bytes]:
    return [m.data for m in sink.messages if m.rcpt_to == [address]]


async def test_tracking_flags_decide_pixel_and_link_rewriting(api, tenant, settings):
    off = await automation(api, tenant, steps=_steps("Plain"), trackingOpen=False, trackingClick=False)
    on = await automation(api, tenant, steps=_steps("Tracked"))
    only_open = await automation(api, tenant, steps=_steps("Opens"), trackingClick=False)
    flags = (await api.client.get(f"/v1/automations/{off}", headers=tenant.headers)).json()["data"]
    assert (flags["trackingOpen"], flags["trackingClick"]) == (False, False)
    await contact(api, tenant, "ann@example.com", firstName="Ann")
    assert await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1)) == 6
    with SmtpSink() as sink:
        await _deliver(settings, sink, api.db, 3)
    by_subject = {email.message_from_bytes(d)["Subject"]: d for d in _received(sink, "ann@example.com")}
    assert set(by_subject) == {"Plain", "Tracked", "Opens"}
    plain, tracked, opens = (_html(by_subject[s]) for s in ("Plain", "Tracked", "Opens"))
    assert "Hi Ann" in plain and f'href="{LINK}"' in plain
    assert tokens.OPEN_PATH not in plain and tokens.CLICK_PATH not in plain
    assert f'href="{LINK}"' not in tracked
    assert re.search(rf'href="http://sendhouse\.test{tokens.CLICK_PATH}[^"]+"', tracked)
    assert re.search(rf'<img[^>]+src="http://sendhouse\.test{tokens.OPEN_PATH}[^"]+"', tracked)
    assert f'href="{LINK}"' in opens and tokens.CLICK_PATH not in opens and tokens.OPEN_PATH in opens
    for html in (plain, tracked, opens):  # the unsubscribe link is never a tracked redirect
        assert re.search(r'href="http://sendhouse\.test/u/[^"]+"', html)
    assert set(await mail_by_email(api.db, on)) == set(await mail_by_email(api.db, only_open))


def _tracking_paths(html: str) -> tuple[str, str]:
    """(the open pixel's path, the tracked link's path) found in a delivered HTML body."""
    pixel = re.search(rf'src="http://sendhouse\.test({tokens.OPEN_PATH}[^"]+)"', html)[1]
    click = re.search(rf'href="http://sendhouse\.test({tokens.CLICK_PATH}[^"]+)"', html)[1]
    return pixel, click


async def test_step_figures_after_delivery_open_and_click(api, tenant, settings):
    aid = await automation(api, tenant, steps=_steps("First", then_wait_days=1))
    people = ["ann@example.com", "bob@example.com", "cat@example.com"]
    made = {address: await contact(api, tenant, address, firstName="X") for address in people}
    now = utcnow() + timedelta(seconds=1)
    await AutomationRunner(api.container).tick(now)
    with SmtpSink() as sink:
        await _deliver(settings, sink, api.db, 3)
    ann_pixel, ann_click = _tracking_paths(_html(_received(sink, "ann@example.com")[0]))
    bob_pixel, _bob_click = _tracking_paths(_html(_received(sink, "bob@example.com")[0]))
    for path in (ann_pixel, ann_pixel, bob_pixel):  # ann opens twice: one opened message
        assert (await api.client.get(path)).status_code == 200
    redirect = await api.client.get(ann_click, follow_redirects=False)
    assert redirect.status_code in (302, 303, 307) and redirect.headers["location"] == LINK
    await api.app.state.tracking.recorder.flush()
    await api.client.delete(f"/v1/contacts/{made['cat@example.com']}", headers=tenant.headers)
    await AutomationRunner(api.container).tick(now + timedelta(days=1, seconds=1))
    got = (await api.client.get(f"/v1/automations/{aid}", headers=tenant.headers)).json()["data"]
    first, second = got["analytics"]["steps"]["e1"], got["analytics"]["steps"]["e2"]
    assert {k: first[k] for k in ("entered", "sent", "delivered", "opened", "clicked", "queued")} == {
        "entered": 3,
        "sent": 3,
        "delivered": 3,
        "opened": 2,
        "clicked": 1,
        "queued": 0,
    }
    assert (first["exited"], first["completed"], first["active"]) == (0, 0, 0)
    assert (second["entered"], second["queued"], second["delivered"]) == (2, 2, 0)
    assert (second["exited"], second["completed"]) == (1, 2)  # cat was deleted before it
    totals = got["analytics"]
    assert (totals["totalEntered"], totals["totalExited"], totals["totalCompleted"]) == (3, 1, 2)
    assert (totals["delivered"], totals["opened"], totals["clicked"]) == (3, 2, 1)
    listed = (await api.client.get("/v1/automations", headers=tenant.headers)).json()["data"]
    [item] = listed["workflowAutomations"]
    assert (item["analytics"]["opened"], item["analytics"]["clicked"]) == (2, 1)
