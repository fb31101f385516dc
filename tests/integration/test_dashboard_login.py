"""Dashboard login on both databases: the argon2 check runs in a thread, and guesses are throttled
per client IP and per account (buckets in the database, so every process shares them) with a clear
message, even for the right password once the account's attempts are used up."""

from __future__ import annotations

import threading

import httpx2

from sendhouse.app import create_app
from sendhouse.bootstrap import build_container
from sendhouse.services import users as user_service
from tests.integration.test_dashboard_pages import PASSWORD, _csrf

EMAIL = "ada@shop.example"


async def _attempt(client, email: str, password: str):
    page = await client.get("/app/login")
    return await client.post(
        "/app/login", data={"email": email, "password": password, "csrf_token": _csrf(page.text)}
    )


async def test_the_password_check_runs_in_a_thread(api, tenant, monkeypatch):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    threads = []
    real = user_service._verify

    def spy(hashed: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return real(hashed, password)

    monkeypatch.setattr(user_service, "_verify", spy)
    assert (await _attempt(api.client, EMAIL, PASSWORD)).status_code == 303
    assert (await _attempt(api.client, "nobody@shop.example", PASSWORD)).status_code == 401
    assert len(threads) == 2 and all(t is not threading.main_thread() for t in threads)


SLOW_REFILL = 1e-6  # attempts regained per second: none during a test, however slow the machine


async def test_guesses_at_one_account_are_throttled_even_with_the_right_password(api, tenant, monkeypatch):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    burst = 4
    monkeypatch.setattr(user_service, "LOGIN_ACCOUNT_LIMIT", (burst, SLOW_REFILL))
    for _ in range(burst):
        assert (await _attempt(api.client, EMAIL, "wrong password!")).status_code == 401
    refused = await _attempt(api.client, " ADA@shop.example", PASSWORD)
    assert refused.status_code == 429
    assert "Too many login attempts for this account. Try again in 1000000 seconds." in refused.text
    assert "sendhouse_session" not in refused.headers.get("set-cookie", "")
    other = await user_service.create_user(
        api.db, "bob@shop.example", password=PASSWORD, project_id=tenant.project_id
    )
    assert (await _attempt(api.client, other[0]["email"], PASSWORD)).status_code == 303


async def test_good_logins_use_up_no_attempts(api, tenant, monkeypatch):
    """A team logging in all day from one office is not locked out: only failed guesses count."""
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    burst = 3
    monkeypatch.setattr(user_service, "LOGIN_ACCOUNT_LIMIT", (burst, SLOW_REFILL))
    monkeypatch.setattr(user_service, "LOGIN_IP_LIMIT", (burst, SLOW_REFILL))
    for _ in range(burst * 3):
        assert (await _attempt(api.client, EMAIL, PASSWORD)).status_code == 303
    for _ in range(burst):
        assert (await _attempt(api.client, EMAIL, "wrong password!")).status_code == 401
    assert (await _attempt(api.client, EMAIL, PASSWORD)).status_code == 429


async def test_guesses_from_one_address_are_throttled_across_processes(api, settings, monkeypatch):
    burst = 5
    monkeypatch.setattr(user_service, "LOGIN_IP_LIMIT", (burst, SLOW_REFILL))
    for n in range(burst):
        assert (await _attempt(api.client, f"user{n}@shop.example", "wrong password!")).status_code == 401
    second = build_container(settings, migrate=False)  # another API process over the same database
    try:
        transport = httpx2.ASGITransport(app=create_app(container=second))
        async with httpx2.AsyncClient(transport=transport, base_url="http://sendhouse.test") as client:
            refused = await _attempt(client, "new@shop.example", "wrong password!")
    finally:
        await second.close()
    assert refused.status_code == 429 and "Too many login attempts from your address" in refused.text
