"""Webhook emission and delivery on both databases, to a real HTTP receiver on 127.0.0.1.

The dispatcher is driven with an explicit clock (`run_once(now)`) so the retry schedule is
checked exactly, and once through its real background loop with a short schedule.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import orjson
import pytest
from standardwebhooks import Webhook

from sendhouse import __version__
from sendhouse.bootstrap import build_container
from sendhouse.delivery.webhooks import is_forbidden_address
from sendhouse.domain import webhooks as rules
from sendhouse.domain.times import utcnow
from sendhouse.services import webhooks as service
from tests.support.http_receiver import HttpReceiver


async def create(api, tenant, url: str, events=("contact.created",)) -> dict:
    response = await api.client.post(
        "/v1/webhooks", json={"url": url, "events": list(events)}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]["webhook"]


async def emit(api, tenant, event="contact.created", data=None, now=None) -> None:
    async with api.db.write() as conn:
        await service.emit(
            conn,
            tenant.project_id,
            event,
            data or {"contactId": "c1", "email": "a@b.co"},
            now=now or utcnow(),
        )


async def webhook(api, tenant, hook_id: str) -> dict:
    return (await api.client.get(f"/v1/webhooks/{hook_id}", headers=tenant.headers)).json()["data"]["webhook"]


async def logs(api, tenant, hook_id: str) -> list[dict]:
    response = await api.client.get(f"/v1/webhooks/{hook_id}/logs", headers=tenant.headers)
    return response.json()["data"]["logs"]


@pytest.fixture
async def dispatcher(api):
    built = service.Dispatcher(api.db, allow_private=True, retry_schedule="5,10,20")
    yield built
    await built.close()


async def test_delivery_is_signed_both_ways(api, tenant, dispatcher):
    with HttpReceiver() as receiver:
        hook = await create(api, tenant, receiver.url())
        now = utcnow()
        await emit(api, tenant, data={"contactId": "c1", "email": "a@b.co", "name": "Ann"}, now=now)
        assert await dispatcher.run_once(now) == 1
        [got] = receiver.wait_for(1)
    payload = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert payload == {
        "type": "contact.created",
        "createdAt": rules.iso(now),
        "data": {"contactId": "c1", "email": "a@b.co", "name": "Ann"},
    }
    expected = hmac.new(hook["secret"].encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Webhook-Signature"], expected)
    assert got.headers["X-Webhook-Event"] == "contact.created"
    assert got.headers["X-Webhook-Delivery-Id"] == got.headers["webhook-id"]
    assert int(got.headers["X-Webhook-Timestamp"]) // 1000 == int(got.headers["webhook-timestamp"])
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == f"Sendhouse-Webhooks/{__version__}"
    [entry] = await logs(api, tenant, hook["id"])
    assert entry["_id"] == got.headers["webhook-id"] and entry["success"] is True
    assert (entry["statusCode"], entry["attempts"], entry["url"], entry["status"]) == (
        200,
        1,
        receiver.url(),
        "succeeded",
    )
    state = await webhook(api, tenant, hook["id"])
    assert state["lastSuccessAt"] and state["lastDeliveredAt"] and state["failureCount"] == 0


async def test_tampered_body_fails_verification(api, tenant, dispatcher):
    with HttpReceiver() as receiver:
        hook = await create(api, tenant, receiver.url())
        await emit(api, tenant)
        await dispatcher.run_once()
        [got] = receiver.wait_for(1)
    tampered = got.body.replace(b"a@b.co", b"x@b.co")
    with pytest.raises(Exception, match="signature"):
        Webhook(hook["secret"]).verify(tampered, got.headers)


async def test_only_active_subscribed_webhooks_of_the_project_get_the_event(
    api, tenant, other_tenant, dispatcher
):
    with HttpReceiver() as receiver:
        wanted = await create(api, tenant, receiver.url("/wanted"))
        await create(api, tenant, receiver.url("/other-event"), events=["email.sent"])
        paused = await create(api, tenant, receiver.url("/paused"))
        await api.client.put(f"/v1/webhooks/{paused['id']}", json={"isActive": False}, headers=tenant.headers)
        await create(api, other_tenant, receiver.url("/other-project"))
        await emit(api, tenant)
        assert await dispatcher.run_once() == 1
        assert [r.path for r in receiver.wait_for(1)] == ["/wanted"]
    assert len(await logs(api, tenant, wanted["id"])) == 1
    assert await logs(api, tenant, paused["id"]) == []


async def test_emit_is_rolled_back_with_the_callers_transaction(api, tenant):
    hook = await create(api, tenant, "https://hooks.example.com/x")
    with pytest.raises(RuntimeError):
        async with api.db.write() as conn:
            await service.emit(conn, tenant.project_id, "contact.created", {"contactId": "c"}, now=utcnow())
            raise RuntimeError("the change failed")
    assert await logs(api, tenant, hook["id"]) == []


async def test_emit_refuses_unknown_events(api, tenant):
    async with api.db.write() as conn:
        with pytest.raises(service.InvalidInput):
            await service.emit(conn, tenant.project_id, "contact.exploded", {}, now=utcnow())


async def test_retries_follow_the_schedule_with_the_same_bytes_and_id(api, tenant, dispatcher):
    with HttpReceiver(fail_first=2) as receiver:
        hook = await create(api, tenant, receiver.url())
        t0 = utcnow()
        await emit(api, tenant, now=t0)
        steps = [(0, 1), (4.9, 0), (5, 1), (14.9, 0), (15, 1), (500, 0)]
        for offset, expected in steps:
            assert await dispatcher.run_once(t0 + timedelta(seconds=offset)) == expected, offset
        got = receiver.wait_for(3)
    assert [r.answered for r in got] == [500, 500, 200]
    assert len({r.body for r in got}) == 1 and len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.headers["X-Webhook-Signature"] for r in got}) == 1
    for request in got:
        Webhook(hook["secret"]).verify(request.body, request.headers)
    [entry] = await logs(api, tenant, hook["id"])
    assert (entry["attempts"], entry["status"], entry["statusCode"], entry["errorMessage"]) == (
        3,
        "succeeded",
        200,
        None,
    )
    assert (await webhook(api, tenant, hook["id"]))["failureCount"] == 0


async def test_after_the_last_retry_the_webhook_counts_a_failure(api, tenant, dispatcher):
    with HttpReceiver(status=503) as receiver:
        hook = await create(api, tenant, receiver.url())
        t0 = utcnow()
        await emit(api, tenant, now=t0)
        for offset in (0, 5, 15, 35, 1000):
            await dispatcher.run_once(t0 + timedelta(seconds=offset))
        assert len(receiver.wait_for(4)) == 4
    [entry] = await logs(api, tenant, hook["id"])
    assert (entry["attempts"], entry["status"], entry["success"], entry["errorMessage"]) == (
        4,
        "failed",
        False,
        "HTTP 503",
    )
    state = await webhook(api, tenant, hook["id"])
    assert state["failureCount"] == 1 and state["lastFailedAt"] and state["lastSuccessAt"] is None


async def test_reactivation_resets_the_failure_count(api, tenant):
    failing = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
    with HttpReceiver(status=500) as receiver:
        hook = await create(api, tenant, receiver.url())
        await emit(api, tenant)
        await failing.run_once()
        await failing.close()
    path = f"/v1/webhooks/{hook['id']}"
    assert (await webhook(api, tenant, hook["id"]))["failureCount"] == 1
    await api.client.put(path, json={"isActive": True}, headers=tenant.headers)
    assert (await webhook(api, tenant, hook["id"]))["failureCount"] == 1  # already active: kept
    await api.client.put(path, json={"isActive": False}, headers=tenant.headers)
    await api.client.put(path, json={"isActive": True}, headers=tenant.headers)
    assert (await webhook(api, tenant, hook["id"]))["failureCount"] == 0


async def test_redirects_are_not_followed(api, tenant):
    once = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
    with HttpReceiver(status=302) as receiver:
        hook = await create(api, tenant, receiver.url())
        await emit(api, tenant)
        await once.run_once()
        await once.close()
        assert len(receiver.wait_for(1)) == 1
    [entry] = await logs(api, tenant, hook["id"])
    assert (entry["statusCode"], entry["status"], entry["errorMessage"]) == (302, "failed", "HTTP 302")


@pytest.mark.parametrize("path", ["127.0.0.1:{port}", "localhost:{port}"])
async def test_ssrf_guard_refuses_loopback_targets(api, tenant, path):
    guarded = service.Dispatcher(api.db, allow_private=False, retry_schedule="")
    with HttpReceiver() as receiver:
        hook = await create(api, tenant, "http://" + path.format(port=receiver.port) + "/hook")
        await emit(api, tenant)
        assert await guarded.run_once() == 1
        await guarded.close()
        assert receiver.requests == []
    [entry] = await logs(api, tenant, hook["id"])
    assert entry["status"] == "failed" and entry["statusCode"] is None
    assert "private, loopback or link-local" in entry["errorMessage"]


async def test_ssrf_guard_off_allows_loopback(api, tenant):
    open_ = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
    with HttpReceiver() as receiver:
        await create(api, tenant, f"http://localhost:{receiver.port}/hook")
        await emit(api, tenant)
        await open_.run_once()
        await open_.close()
        assert len(receiver.wait_for(1)) == 1


@pytest.mark.parametrize(
    "address,forbidden",
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
        # IPv4 carried inside IPv6: mapped, IPv4-compatible, NAT64 and 6to4 forms
        ("::ffff:169.254.169.254", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:93.184.216.34", False),
        ("::127.0.0.1", True),
        ("::a9fe:a9fe", True),
        ("::93.184.216.34", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("64:ff9b::127.0.0.1", True),
        ("64:ff9b::10.0.0.1", True),
        ("64:ff9b::93.184.216.34", False),
        ("64:ff9b:1::a9fe:a9fe", True),
        ("2002:7f00:1::1", True),
        ("2002:a9fe:a9fe::1", True),
        ("2002:c0a8:101::1", True),
        ("2002:5db8:d822::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),
    ],
)
def test_forbidden_addresses(address, forbidden):
    assert is_forbidden_address(address) is forbidden


async def test_resend_is_delivered_with_the_given_data(api, tenant, dispatcher):
    with HttpReceiver() as receiver:
        hook = await create(api, tenant, receiver.url(), events=["email.opened"])
        sent = await api.client.post(
            f"/v1/webhooks/{hook['id']}/resend",
            json={"event": "email.opened", "data": {"emailId": "e9"}},
            headers=tenant.headers,
        )
        await dispatcher.run_once()
        [got] = receiver.wait_for(1)
    body = orjson.loads(got.body)
    assert (body["type"], body["data"]) == ("email.opened", {"emailId": "e9"})
    assert got.headers["X-Webhook-Delivery-Id"] == sent.json()["data"]["jobId"]


async def test_inactive_and_deleted_webhooks_get_nothing(api, tenant, dispatcher):
    with HttpReceiver() as receiver:
        paused = await create(api, tenant, receiver.url("/paused"))
        deleted = await create(api, tenant, receiver.url("/deleted"))
        await emit(api, tenant)
        await api.client.put(f"/v1/webhooks/{paused['id']}", json={"isActive": False}, headers=tenant.headers)
        await api.client.delete(f"/v1/webhooks/{deleted['id']}", headers=tenant.headers)
        assert await dispatcher.run_once() == 0
        assert receiver.requests == []
        await api.client.put(f"/v1/webhooks/{paused['id']}", json={"isActive": True}, headers=tenant.headers)
        assert await dispatcher.run_once() == 1
        assert [r.path for r in receiver.wait_for(1)] == ["/paused"]


async def test_an_expired_lease_is_taken_over(api, tenant):
    with HttpReceiver() as receiver:
        hook = await create(api, tenant, receiver.url())
        t0 = utcnow()
        await emit(api, tenant, now=t0)
        crashed = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
        async with api.db.write() as conn:  # claimed, then the process "dies" before posting
            claimed = await service.store.claim_due(
                conn,
                owner=crashed.owner,
                now=t0,
                lease_until=t0 + service.LEASE,
                capacity=service.store.Capacity(10, 4, 8),
            )
        assert len(claimed) == 1
        survivor = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
        assert await survivor.run_once(t0 + timedelta(seconds=30)) == 0
        assert await survivor.run_once(t0 + service.LEASE) == 1
        await survivor.close()
        assert len(receiver.wait_for(1)) == 1
    assert (await logs(api, tenant, hook["id"]))[0]["status"] == "succeeded"


async def test_logs_are_pruned_after_24_and_48_hours(api, tenant):
    once = service.Dispatcher(api.db, allow_private=True, retry_schedule="")
    with HttpReceiver(fail_first=1) as receiver:
        hook = await create(api, tenant, receiver.url())
        t0 = utcnow()
        await emit(api, tenant, now=t0, data={"n": 1})
        await once.run_once(t0)  # fails, no retries: failed
        await emit(api, tenant, now=t0, data={"n": 2})
        await once.run_once(t0)  # succeeds
        receiver.wait_for(2)

    def statuses(entries):
        return sorted(e["status"] for e in entries)

    assert statuses(await logs(api, tenant, hook["id"])) == ["failed", "succeeded"]
    assert await once.prune(t0 + timedelta(hours=23, minutes=59)) == 0
    assert await once.prune(t0 + timedelta(hours=24, minutes=1)) == 1
    assert statuses(await logs(api, tenant, hook["id"])) == ["failed"]
    assert await once.prune(t0 + timedelta(hours=47, minutes=59)) == 0
    assert await once.prune(t0 + timedelta(hours=48, minutes=1)) == 1
    await once.close()
    assert await logs(api, tenant, hook["id"]) == []


async def test_background_part_retries_with_a_short_schedule(api, tenant, settings):
    quick = build_container(
        settings.model_copy(update={"webhook_retry_schedule": "0.05,0.05,0.05"}), migrate=False
    )
    with HttpReceiver(fail_first=2) as receiver:
        hook = await create(api, tenant, receiver.url())
        await emit(api, tenant)
        async with service.dispatcher_part(quick, poll_interval=0.02):
            got = await receiver.arrived(3)
            entries = await _settled(api, tenant, hook["id"])
        await quick.close()
    assert [r.answered for r in got] == [500, 500, 200]
    assert (entries[0]["status"], entries[0]["attempts"]) == ("succeeded", 3)


async def _settled(api, tenant, hook_id: str, rounds: int = 500) -> list[dict]:
    """The logs once no delivery is pending or in flight (bounded polling)."""
    import asyncio

    for _ in range(rounds):
        entries = await logs(api, tenant, hook_id)
        if entries and all(e["status"] in ("succeeded", "failed") for e in entries):
            return entries
        await asyncio.sleep(0.02)
    return entries


def test_retry_schedule_parsing():
    assert rules.parse_retry_schedule("5,10,20") == (5.0, 10.0, 20.0)
    assert rules.parse_retry_schedule(" 0.5 , 1 ") == (0.5, 1.0)
    assert rules.parse_retry_schedule("") == ()
    with pytest.raises(ValueError):
        rules.parse_retry_schedule("5,-1")
