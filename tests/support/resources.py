"""One resource of every kind the API manages, created through the API itself with a project key.

`create_all(client, headers)` returns {path parameter name: id} (campaign_id, template_id, ...),
used by the fuzz and security suites to aim at rows that really exist in a project.
"""

from __future__ import annotations

import httpx2

CAMPAIGN = {"name": "Launch", "subject": "Hello", "htmlTemplate": "<p>Hi {{first_name}}</p>"}


async def _post(client: httpx2.AsyncClient, headers: dict, path: str, body: dict) -> dict:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), (path, response.status_code, response.text)
    return response.json()["data"]


async def create_all(client: httpx2.AsyncClient, headers: dict) -> dict[str, str]:
    """A contact, list, template, sender, domain, suppression group, webhook, property, campaign, mail,
    event definition and automation."""
    contact = await _post(
        client,
        headers,
        "/v1/contacts",
        {"email": "owner@example.com", "userId": "owner-1", "firstName": "Owner"},
    )
    listed = await _post(client, headers, "/v1/contact-lists", {"name": "Owners"})
    template = await _post(client, headers, "/v1/templates", {"templateName": "Welcome", "subject": "Hi"})
    sender = await _post(client, headers, "/v1/senders", {"email": "team@example.com", "name": "Team"})
    domain = await _post(client, headers, "/v1/domains", {"domain": "owner-example.com"})
    group = await _post(client, headers, "/v1/suppression-groups", {"name": "Newsletter"})
    hook = await _post(
        client, headers, "/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["contact.created"]}
    )
    await _post(client, headers, "/v1/contact-properties", {"fieldName": "plan", "fieldType": "string"})
    campaign = await _post(client, headers, "/v1/campaigns", {**CAMPAIGN, "toLists": [_id(listed)]})
    mail = await _post(
        client,
        headers,
        "/v1/mails/send",
        {
            "to": {"email": "owner@example.com"},
            "from": {"email": "team@example.com"},
            "subject": "Receipt",
            "html": "<p>Thanks</p>",
        },
    )
    event = await _post(client, headers, "/v1/events", {"eventName": "signed_up"})
    flow = await _post(
        client,
        headers,
        "/v1/automations",
        {
            "name": "Welcome",
            "steps": [
                {"type": "wait", "delay": {"value": 0, "unit": "minutes"}},
                {
                    "type": "email",
                    "email": {
                        "htmlTemplate": "<p>Hi</p>",
                        "subject": "Hi",
                        "senderEmail": "team@example.com",
                    },
                },
            ],
        },
    )
    return {
        "contact_id": _id(contact),
        "list_id": _id(listed),
        "template_id": _id(template),
        "sender_id": _id(sender),
        "domain_id": _id(domain),
        "group_id": _id(group),
        "webhook_id": _id(hook),
        "campaign_id": _id(campaign),
        "email_id": mail["emailId"],
        "name": "plan",
        "user_id": "owner-1",
        "event_name": event["eventName"],
        "automation_id": _id(flow),
    }


def _id(data: dict) -> str:
    for key in ("id", "campaignId", "templateId", "contactListId", "groupId", "webhookId"):
        if isinstance(data, dict) and data.get(key):
            return data[key]
    for value in data.values() if isinstance(data, dict) else ():
        if isinstance(value, dict) and value.get("id"):
            return value["id"]
    raise AssertionError(f"no id in {data}")
