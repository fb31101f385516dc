"""The Users page over the ASGI app on both databases: invite a new person (a login with a
password shown once), invite someone who already has a login (joins), invite a member again
(refused in words), reset a member's password (the old one stops working, their sessions end),
remove a member but never yourself; another project's member is not found."""

from __future__ import annotations

import re

import pytest

from sendhouse.errors import Unauthorized
from sendhouse.services import sessions as session_service
from sendhouse.services import users as user_service
from tests.integration.test_dashboard_campaign_page import _login


def _password(page: str) -> str:
    return re.search(r'id="new-password">.*?<code>([^<]+)</code>', page, re.DOTALL)[1]


def _member_id(page: str, email: str) -> str:
    row = page[page.index(f'data-member="{email}"') :]
    return re.search(r"/users/([0-9a-f]{24})/reset-password", row)[1]


async def test_invite_reset_and_remove(api, tenant, other_tenant):
    token = await _login(api, tenant)
    invited = await api.client.post("/app/users", data={"csrf_token": token, "email": "Bob@Shop.example"})
    assert invited.status_code == 200 and "Login created for" in invited.text
    first = _password(invited.text)
    assert (await user_service.login(api.db, "bob@shop.example", first))["email"] == "bob@shop.example"
    await user_service.create_user(
        api.db, "eve@other.example", password="x" * 12, project_id=other_tenant.project_id
    )
    joined = await api.client.post("/app/users", data={"csrf_token": token, "email": "eve@other.example"})
    assert joined.headers["location"] == "/app/users"
    page = (await api.client.get("/app/users")).text
    assert "already had a login" in page and 'data-member="eve@other.example"' in page
    again = await api.client.post("/app/users", data={"csrf_token": token, "email": "bob@shop.example"})
    assert again.status_code == 409 and "already a member of this project" in again.text
    bob = _member_id(page, "bob@shop.example")
    session = await session_service.start(api.db, bob)
    reset = await api.client.post(f"/app/users/{bob}/reset-password", data={"csrf_token": token})
    second = _password(reset.text)
    assert second != first and await session_service.user_id_of(api.db, session) is None
    with pytest.raises(Unauthorized):
        await user_service.login(api.db, "bob@shop.example", first)
    await api.client.post(f"/app/users/{bob}/remove", data={"csrf_token": token})
    page = (await api.client.get("/app/users")).text
    assert 'data-member="bob@shop.example"' not in page and "no longer belongs" in page


async def test_you_cannot_remove_yourself_nor_touch_another_projects_member(api, tenant, other_tenant):
    token = await _login(api, tenant)
    own_id = (await user_service.login(api.db, "ada@shop.example", "correct horse battery"))["id"]
    refused = await api.client.post(f"/app/users/{own_id}/remove", data={"csrf_token": token})
    assert "cannot remove yourself" in (await api.client.get(refused.headers["location"])).text
    outsider, _ = await user_service.create_user(
        api.db, "mal@other.example", project_id=other_tenant.project_id
    )
    for action in ("reset-password", "remove"):
        answer = await api.client.post(f"/app/users/{outsider['id']}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404, action
