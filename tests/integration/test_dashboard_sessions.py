"""Dashboard sessions on the server, on both databases: a copied cookie dies at logout, a password
change logs out every other browser, the password change page checks its fields, and the cookie
is Secure when the public URL is https."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx2
import sqlalchemy as sa

from sendhouse.app import create_app
from sendhouse.bootstrap import build_container
from sendhouse.services import users as user_service
from sendhouse.store.schema.dashboard import dashboard_sessions
from tests.integration.test_dashboard_pages import PASSWORD, _csrf

EMAIL = "ada@shop.example"
NEW_PASSWORD = "a brand new passphrase"


@asynccontextmanager
async def browser(app, base_url: str = "http://sendhouse.test"):
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=base_url) as client:
        yield client


async def _log_in(client, password: str = PASSWORD):
    page = await client.get("/app/login")
    return await client.post(
        "/app/login", data={"email": EMAIL, "password": password, "csrf_token": _csrf(page.text)}
    )


async def _signed_in(client) -> bool:
    return (await client.get("/app/campaigns")).status_code == 200


async def _with_cookie(app, cookie: str) -> bool:
    async with browser(app) as thief:
        thief.cookies.set("sendhouse_session", cookie)
        return await _signed_in(thief)


async def _live_sessions(api) -> int:
    async with api.db.read() as conn:
        query = (
            sa.select(sa.func.count())
            .select_from(dashboard_sessions)
            .where(dashboard_sessions.c.revoked_at.is_(None))
        )
        return (await conn.execute(query)).scalar_one()


async def test_a_copied_cookie_stops_working_at_logout(api, tenant):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    async with browser(api.app) as ada:
        assert (await _log_in(ada)).status_code == 303
        cookie = ada.cookies["sendhouse_session"]
        assert await _with_cookie(api.app, cookie)
        assert await _live_sessions(api) == 1
        csrf = _csrf((await ada.get("/app/campaigns")).text)
        assert (await ada.post("/app/logout", data={"csrf_token": csrf})).status_code == 303
    assert not await _with_cookie(api.app, cookie)
    assert await _live_sessions(api) == 0


async def test_a_password_change_logs_out_every_other_browser(api, tenant):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    async with browser(api.app) as laptop, browser(api.app) as phone:
        await _log_in(laptop)
        await _log_in(phone)
        page = await laptop.get("/app/account/password")
        assert page.status_code == 200 and "Change password" in page.text
        changed = await laptop.post(
            "/app/account/password",
            data={
                "password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": _csrf(page.text),
            },
        )
        assert changed.status_code == 303
        assert await _signed_in(laptop) and not await _signed_in(phone)
        assert await _live_sessions(api) == 1
    async with browser(api.app) as fresh:
        assert (await _log_in(fresh, PASSWORD)).status_code == 401
        assert (await _log_in(fresh, NEW_PASSWORD)).status_code == 303


async def test_the_password_form_is_checked_and_a_refusal_changes_nothing(api, tenant):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    async with browser(api.app) as ada, browser(api.app) as other:
        await _log_in(ada)
        await _log_in(other)
        csrf = _csrf((await ada.get("/app/account/password")).text)
        cases = [
            (
                {
                    "password": "not the password",
                    "new_password": NEW_PASSWORD,
                    "confirm_password": NEW_PASSWORD,
                },
                401,
                "The current password is wrong",
            ),
            (
                {"password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "!"},
                400,
                "the two new passwords differ",
            ),
            (
                {"password": PASSWORD, "new_password": "short", "confirm_password": "short"},
                400,
                "10 to 200 characters",
            ),
        ]
        for fields, status, message in cases:
            answer = await ada.post("/app/account/password", data={**fields, "csrf_token": csrf})
            assert answer.status_code == status and message in answer.text, fields
        assert await _signed_in(ada) and await _signed_in(other)
        assert await _live_sessions(api) == 2
    async with browser(api.app) as fresh:
        assert (await _log_in(fresh, PASSWORD)).status_code == 303


async def test_the_password_page_needs_a_session(api):
    answer = await api.client.get("/app/account/password")
    assert answer.status_code == 303 and answer.headers["location"] == "/app/login"


async def test_the_cookie_is_secure_when_the_public_url_is_https(api, tenant, settings):
    await user_service.create_user(api.db, EMAIL, password=PASSWORD, project_id=tenant.project_id)
    async with browser(api.app) as plain:
        cookie = (await _log_in(plain)).headers["set-cookie"]
        assert "sendhouse_session=" in cookie and "secure" not in cookie.lower()
    https = build_container(
        settings.model_copy(update={"public_url": "https://mail.example.com"}), migrate=False
    )
    try:
        async with browser(create_app(container=https), "https://mail.example.com") as secure:
            cookie = (await _log_in(secure)).headers["set-cookie"]
    finally:
        await https.close()
    assert "sendhouse_session=" in cookie and "; secure" in cookie.lower() and "httponly" in cookie.lower()
