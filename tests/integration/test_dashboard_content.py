"""Dashboard template, domain, webhook and outbox pages over the ASGI app on both databases: the
template editor and its live preview, a test send the worker delivers to the capture outbox (shown
with its raw source), the DNS records to copy, webhooks and their delivery log; login, CSRF and
another project's ids (404) on each."""

from __future__ import annotations

import re

from tests.integration.test_dashboard_pages import _login
from tests.support.sending_data import container_for, running, wait_for

TEMPLATE = {
    "templateName": "Welcome",
    "subject": "Hi {{firstName}}",
    "templateType": "transactional",
    "emailTemplate": "<h1>Hello {{firstName}}</h1>",
}


async def test_pages_need_a_login(api):
    for path in (
        "/app/templates",
        "/app/templates/new",
        "/app/domains",
        "/app/webhooks",
        "/app/outbox",
        "/app/outbox/0123456789abcdef01234567/raw",
    ):
        assert (await api.client.get(path)).headers["location"] == "/app/login"
    assert (await api.client.post("/app/campaigns/preview", data={})).headers["location"] == "/app/login"


async def test_forms_need_the_csrf_token(api, tenant):
    await _login(api, tenant)
    posts = [
        ("/app/templates/new", TEMPLATE),
        ("/app/domains", {"domain": "mail.shop.example"}),
        ("/app/webhooks", {"url": "https://hooks.shop.example/x", "events": "contact.created"}),
        ("/app/campaigns/preview", {"emailTemplate": "<p>x</p>"}),
    ]
    for path, data in posts:
        for token in ({}, {"csrf_token": "forged"}):
            assert (await api.client.post(path, data={**data, **token})).status_code == 403
    assert (await api.client.get("/v1/templates", headers=tenant.headers)).text.count("Welcome") == 0
    assert "mail.shop.example" not in (await api.client.get("/app/domains")).text
    assert "No webhook yet" in (await api.client.get("/app/webhooks")).text


async def _create_template(api, token: str) -> str:
    made = await api.client.post("/app/templates/new", data={**TEMPLATE, "csrf_token": token})
    assert made.status_code == 303, made.text
    return made.headers["location"].rsplit("/", 1)[1]


async def test_template_created_edited_and_previewed(api, tenant):
    token = await _login(api, tenant)
    blank = await api.client.post(
        "/app/templates/new", data={**TEMPLATE, "templateName": "", "csrf_token": token}
    )
    assert blank.status_code == 400 and 'role="alert"' in blank.text
    template_id = await _create_template(api, token)
    edited = await api.client.post(
        f"/app/templates/{template_id}",
        data={
            **TEMPLATE,
            "subject": "Welcome aboard",
            "emailTemplate": "<h1>Bye {{lastName}}</h1>",
            "csrf_token": token,
        },
    )
    assert edited.status_code == 303
    stored = (await api.client.get(f"/v1/templates/{template_id}", headers=tenant.headers)).json()["data"]
    assert stored["subject"] == "Welcome aboard" and "Bye {{lastName}}" in stored["emailTemplate"]
    preview = await api.client.post(
        "/app/campaigns/preview", data={"emailTemplate": "<h1>Hello {{firstName}}</h1>", "csrf_token": token}
    )
    assert "Hello Ada" in preview.text and "{{firstName}}" not in preview.text
    saved = await api.client.post(
        "/app/campaigns/preview", data={"templateId": template_id, "csrf_token": token}
    )
    assert "Bye Lovelace" in saved.text
    broken = await api.client.post(
        "/app/campaigns/preview", data={"emailTemplate": "{{#if}}", "csrf_token": token}
    )
    assert 'role="alert"' in broken.text


async def test_test_send_is_delivered_to_the_outbox(api, tenant, settings):
    token = await _login(api, tenant)
    template_id = await _create_template(api, token)
    bad = await api.client.post(
        f"/app/templates/{template_id}/test", data={"to": "nope", "csrf_token": token}
    )
    assert bad.status_code == 400 and 'class="errors" role="alert"' in bad.text
    sent = await api.client.post(
        f"/app/templates/{template_id}/test",
        data={"to": "ada@shop.example", "fromEmail": "news@shop.example", "csrf_token": token},
    )
    assert sent.status_code == 303
    flashed = (await api.client.get(f"/app/templates/{template_id}")).text
    assert "Test email queued" in flashed
    worker = container_for(settings, smtp_url="capture")
    try:
        async with running(worker):
            await wait_for(lambda: _outbox_rows(api))
    finally:
        await worker.close()
    listing = (await api.client.get("/app/outbox")).text
    capture_id = re.search(r'/app/outbox/([0-9a-f]{24})"', listing)[1]
    assert "ada@shop.example" in listing
    raw = await api.client.get(f"/app/outbox/{capture_id}/raw")
    assert raw.headers["content-type"].startswith("text/plain") and "Message-ID:" in raw.text
    assert "Subject: Hi Ada" in raw.text
    assert "Hello Ada" in (await api.client.get(f"/app/outbox/{capture_id}")).text


async def _outbox_rows(api) -> bool:
    return bool(re.search(r'/app/outbox/[0-9a-f]{24}"', (await api.client.get("/app/outbox")).text))


async def test_another_projects_templates_are_not_found(api, tenant, other_tenant):
    theirs = await api.client.post("/v1/templates", headers=other_tenant.headers, json=TEMPLATE)
    template_id = theirs.json()["data"]["templateId"]
    token = await _login(api, tenant)
    assert (await api.client.get(f"/app/templates/{template_id}")).status_code == 404
    for path in ("", "/test", "/delete"):
        answer = await api.client.post(
            f"/app/templates/{template_id}{path}", data={**TEMPLATE, "to": "a@b.example", "csrf_token": token}
        )
        assert answer.status_code == 404, (path, answer.text[-600:])
    preview = await api.client.post(
        "/app/campaigns/preview", data={"templateId": template_id, "csrf_token": token}
    )
    assert preview.status_code == 404
    kept = (await api.client.get(f"/v1/templates/{template_id}", headers=other_tenant.headers)).json()["data"]
    assert kept["templateName"] == "Welcome"


async def test_domain_shows_the_records_to_copy(api, tenant, other_tenant):
    token = await _login(api, tenant)
    bad = await api.client.post("/app/domains", data={"domain": "not a domain", "csrf_token": token})
    assert bad.status_code == 400 and 'class="errors" role="alert"' in bad.text
    made = await api.client.post("/app/domains", data={"domain": "mail.shop.example", "csrf_token": token})
    page = await api.client.get(made.headers["location"].removeprefix("http://sendhouse.test"))
    domain_id = made.headers["location"].rsplit("/", 1)[1]
    records = (await api.client.get(f"/v1/domains/{domain_id}", headers=tenant.headers)).json()["data"][
        "dnsRecords"
    ]
    for record in (records["ownership"], records["dkim"], records["dmarc"], *records["mailFrom"]):
        assert f'value="{record["name"]}"' in page.text
        assert f'record value" onclick="this.select()">{record["value"]}<' in page.text
    theirs = await api.client.post(
        "/v1/domains", headers=other_tenant.headers, json={"domain": "them.example"}
    )
    their_id = theirs.json()["data"]["id"]
    assert (await api.client.get(f"/app/domains/{their_id}")).status_code == 404
    assert (
        await api.client.post(f"/app/domains/{their_id}/verify", data={"csrf_token": token})
    ).status_code == 404


async def test_webhook_created_and_its_log_shown(api, tenant, other_tenant):
    token = await _login(api, tenant)
    bad = await api.client.post(
        "/app/webhooks", data={"url": "ftp://x", "events": "contact.created", "csrf_token": token}
    )
    assert bad.status_code == 400 and "No webhook yet" in (await api.client.get("/app/webhooks")).text
    made = await api.client.post(
        "/app/webhooks",
        data={"url": "https://hooks.shop.example/in", "events": ["contact.created"], "csrf_token": token},
    )
    assert made.status_code == 303
    listing = (await api.client.get("/app/webhooks")).text
    assert re.search(r'id="webhook-secret">whsec_', listing) and "hooks.shop.example/in" in listing
    assert "whsec_" not in (await api.client.get("/app/webhooks")).text  # shown once
    hook_id = re.search(r'/app/webhooks/([0-9a-f]{24})"', listing)[1]
    await api.client.post(
        f"/v1/webhooks/{hook_id}/resend",
        headers=tenant.headers,
        json={"event": "contact.created", "data": {"email": "x@y.example"}},
    )
    logs = (await api.client.get(f"/app/webhooks/{hook_id}")).text
    assert "contact.created" in logs and "No delivery yet" not in logs
    theirs = await api.client.post(
        "/v1/webhooks",
        headers=other_tenant.headers,
        json={"url": "https://them.example/h", "events": ["contact.created"]},
    )
    their_id = theirs.json()["data"]["webhook"]["id"]
    assert (await api.client.get(f"/app/webhooks/{their_id}")).status_code == 404
    assert (
        await api.client.post(f"/app/webhooks/{their_id}/delete", data={"csrf_token": token})
    ).status_code == 404
    assert (await api.client.get(f"/v1/webhooks/{their_id}", headers=other_tenant.headers)).status_code == 200


async def test_another_projects_captured_message_is_not_found(api, tenant):
    await _login(api, tenant)
    for path in (
        "/app/outbox/0123456789abcdef01234567",
        "/app/outbox/0123456789abcdef01234567/raw",
        "/app/outbox/not-an-id",
    ):
        assert (await api.client.get(path)).status_code == 404
