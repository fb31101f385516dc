"""Starter templates and the preview's sample data over the ASGI app on both databases: the
templates page offers two starters, each opens the editor filled in (nothing saved until Save),
an unknown starter is not found, and the preview fills the project's properties with samples."""

from __future__ import annotations

import html

from tests.integration.test_dashboard_pages import _login


async def test_two_starters_open_the_editor_filled_in_and_save_as_templates(api, tenant):
    token = await _login(api, tenant)
    page = (await api.client.get("/app/templates")).text
    assert page.count('data-starter="') == 2 and "No template yet" in page
    for key, subject in (
        ("newsletter", "What’s new this month"),
        ("welcome", 'Welcome aboard, {{firstName | "friend"}}'),
    ):
        form = html.unescape((await api.client.get(f"/app/templates/new?starter={key}")).text)
        assert (
            f'value="{subject}"' in form
            and "{{unsubscribe}}" in form
            and '<table role="presentation"' in form
        )
    assert (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"] == []
    assert (await api.client.get("/app/templates/new?starter=nope")).status_code == 404
    rendered = await api.client.post(
        "/app/campaigns/preview",
        data={
            "csrf_token": token,
            "emailTemplate": html.unescape(form.split('class="code">')[1].split("</textarea>")[0]),
        },
    )
    assert "Welcome, Ada!" in html.unescape(rendered.text)


async def test_the_preview_fills_properties_with_samples(api, tenant):
    token = await _login(api, tenant)
    for name, kind in (("plan", "string"), ("score", "number"), ("vip", "boolean")):
        await api.client.post("/app/properties", data={"csrf_token": token, "name": name, "type": kind})
    rendered = await api.client.post(
        "/app/campaigns/preview",
        data={"csrf_token": token, "emailTemplate": "<p>{{plan}} / {{score}} / {{#if vip}}VIP{{/if}}</p>"},
    )
    assert "sample plan / 42 / VIP" in html.unescape(rendered.text)
