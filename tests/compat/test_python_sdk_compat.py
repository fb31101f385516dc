"""A published Python AutoSend SDK (PyPI `autosend-shreya-sdk` 2.0.0, sync `requests`) against a
live `sendhouse serve`, on SQLite and PostgreSQL: every call it makes (mails, bulk, contacts),
with its own request shapes (bare arrays for remove/search, `unsubscribe: {url, groupId}`,
attachments' `filename`) and its error classes."""

from __future__ import annotations

import base64
import uuid

import pytest
from autosend.client import AutosendClient
from autosend.errors import AuthenticationError, AutosendError


@pytest.fixture
def sdk(live) -> AutosendClient:
    return AutosendClient(live.key, base_url=live.base)


def test_errors_come_back_as_the_sdks_exceptions(live, sdk):
    with pytest.raises(AuthenticationError):
        AutosendClient("AS_wrong", base_url=live.base).contacts.get_contact("0" * 24)
    with pytest.raises(AutosendError) as unverified:
        sdk.sending.send_email(
            "ann@example.org", "Ann", "app@unverified.example", "App", "Hi", "<p>Hi</p>", {}
        )
    text = str(unverified.value)
    assert text.startswith("API returned 400:")
    assert '"message":"A verified domain is required before sending from unverified.example"' in text
    with pytest.raises(AutosendError) as missing:
        sdk.contacts.get_contact("0" * 24)
    assert "API returned 404" in str(missing.value) and "CONTACT_NOT_FOUND" in str(missing.value)


def test_mails_through_the_python_sdk(live, sdk):
    live.verify_domain()
    group = live.call("POST", "/suppression-groups", json={"name": "Receipts"}).json()["data"]["groupId"]
    live.call(
        "POST", "/suppression-groups/emails/suppress", json={"emails": ["left@example.org"], "groupId": group}
    )
    note = {
        "filename": "note.txt",
        "content": base64.b64encode(b"thanks").decode(),
        "contentType": "text/plain",
    }
    sent = sdk.sending.send_email(
        "ann@example.org",
        "Ann",
        "app@compat.example",
        "App",
        "Hi {{name}}",
        "<p>Hi {{name}}</p>",
        {"name": "Ann"},
        reply_to_email="help@compat.example",
        attachments=[note],
    )
    assert (
        sent["success"] is True
        and len(sent["data"]["emailId"]) == 24
        and sent["data"]["totalRecipients"] == 1
    )
    status = live.call("GET", f"/mails/{sent['data']['emailId']}/status").json()["data"]
    assert status["recipient"] == {"email": "ann@example.org", "name": "Ann"}
    grouped = sdk.sending.send_email(
        "left@example.org",
        "Left",
        "app@compat.example",
        "App",
        "Hi",
        "<p>Hi</p>",
        {},
        unsubscribe_url="https://compat.example/u",
        unsubscribe_group_id=group,
    )
    assert (
        grouped["data"]["totalRecipients"] == 0
    )  # suppressed in the group the SDK's unsubscribe object names
    bulk = sdk.sending.send_bulk(
        [{"email": "b1@example.org", "name": "B1"}, {"email": "broken", "name": "X"}],
        "app@compat.example",
        "App",
        "Batch",
        "<p>Batch</p>",
        {},
    )
    data = bulk["data"]
    uuid.UUID(data["batchId"])
    assert (data["totalRecipients"], data["successCount"], data["failedCount"]) == (2, 1, 1)
    assert [(f["index"], f["email"], f["code"]) for f in data["failures"]] == [
        (1, "broken", "INVALID_RECIPIENT")
    ]


def test_contacts_through_the_python_sdk(live, sdk):
    created = sdk.contacts.create_contact(
        "dan@example.org", "Dan", "Berg", user_id="user-9", custom_fields={"plan": "pro"}
    )["data"]
    assert created["email"] == "dan@example.org" and created["userId"] == "user-9"
    upserted = sdk.contacts.upsert_contact("dan@example.org", "Daniel", "Berg")["data"]
    assert upserted["id"] == created["id"] and upserted["firstName"] == "Daniel"
    assert upserted["customFields"] == {"plan": "pro"}
    assert sdk.contacts.get_contact(created["id"])["data"]["firstName"] == "Daniel"
    found = sdk.contacts.search_by_emails(["dan@example.org", "nobody@example.org"])["data"]["contacts"]
    assert [c["id"] for c in found] == [created["id"]]
    bulk = sdk.contacts.bulk_update(
        [{"email": "eve@example.org", "firstName": "Eve"}, {"email": "fay@example.org", "userId": "user-10"}]
    )["data"]
    assert (bulk["successCount"], bulk["failedCount"], bulk["totalCount"]) == (2, 0, 2)
    groups = sdk.contacts.get_unsubscribe_groups(created["id"])["data"]["groups"]
    assert groups == []
    removed = sdk.contacts.remove_contacts(["eve@example.org"])
    assert removed["success"] is True and removed["data"]["removedCount"] == 1
    assert sdk.contacts.delete_by_user_id("user-10")["success"] is True
    assert sdk.contacts.delete_by_id(created["id"])["message"] == "Contact deleted successfully"
    left = live.call(
        "POST",
        "/contacts/search/emails",
        json={"emails": ["dan@example.org", "eve@example.org", "fay@example.org"]},
    )
    assert left.json()["data"]["contacts"] == []
