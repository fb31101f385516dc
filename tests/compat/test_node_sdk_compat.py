"""The official AutoSend Node SDK (npm `autosendjs` 1.0.5) against a live `sendhouse serve`, on
SQLite and PostgreSQL: every resource, asserting the shapes the SDK's types declare (and, for
resources it has no methods for, the shapes of AutoSend's reference), through the SDK's own HTTP
client. The SDK is installed with npm into a temporary folder at test time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed for the Node SDK suite")
    folder = tmp_path_factory.mktemp("compat-node")
    for name in ("package.json", "compat_flow.mjs"):
        shutil.copy(NODE_DIR / name, folder / name)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return folder


def run_flow(sdk_dir: Path, live, domain_id: str) -> dict:
    env = {
        **os.environ,
        "AUTOSEND_BASE_URL": live.base,
        "AUTOSEND_API_KEY": live.key,
        "COMPAT_DOMAIN_ID": domain_id,
    }
    done = subprocess.run(
        ["node", "compat_flow.mjs"],
        cwd=sdk_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def failed(result: dict, status: int, text: str | None = None) -> None:
    """The SDK's error shape: success false, `error` a string (from the body's top-level message)."""
    assert result["success"] is False and result["statusCode"] == status, result
    assert isinstance(result["error"], str) and not result["error"].startswith("{"), result
    if text is not None:
        assert result["error"] == text, result


def assert_contact(contact: dict) -> None:
    """The SDK's Contact type."""
    assert isinstance(contact["id"], str) and len(contact["id"]) == 24
    assert isinstance(contact["email"], str) and isinstance(contact["createdAt"], str)
    assert isinstance(contact["updatedAt"], str) and isinstance(contact["listIds"], list)
    assert isinstance(contact["customFields"], dict)


def test_every_resource_through_the_node_sdk(sdk_dir, live):
    domain = live.verify_domain()
    out = run_flow(sdk_dir, live, domain["id"])
    _mails(out)
    _contacts(out)
    _audience_and_content(out)
    _campaigns_and_domains(out)
    _suppressions_and_webhooks(out)
    assert out["inbound"]["success"] is True and out["inbound"]["data"]["items"] == [], out[
        "inbound"
    ]  # empty inbox


def _mails(out: dict) -> None:
    failed(out["unverifiedSend"], 400, "A verified domain is required before sending from unverified.example")
    assert out["send"]["success"] is True and len(out["send"]["data"]["emailId"]) == 24
    bulk = out["bulk"]["data"]
    uuid.UUID(bulk["batchId"])
    assert (bulk["totalRecipients"], bulk["successCount"], bulk["failedCount"]) == (3, 2, 1)
    assert set(bulk) == {"batchId", "totalRecipients", "successCount", "failedCount"}  # the SDK keeps these
    failed(out["bulkNoneValid"], 400, "Validation failed: no valid recipient")
    failed(out["badSend"], 400, "Validation failed")
    status = out["status"]["data"]
    assert (
        status["id"] == out["send"]["data"]["emailId"] and status["recipient"]["email"] == "ann@example.org"
    )
    assert status["status"] == "queued" and status["sender"]["email"] == "app@compat.example"


def _contacts(out: dict) -> None:
    assert_contact(out["created"]["data"])
    assert out["created"]["data"]["customFields"] == {"plan": "pro"}
    assert out["createdAgain"] == {
        "success": False,
        "error": "A contact with this email already exists; use POST /contacts/email to upsert",
    }
    assert out["got"]["data"]["id"] == out["created"]["data"]["id"]
    assert out["upserted"]["data"]["lastName"] == "Jones" and out["upserted"]["data"]["firstName"] == "Carol"
    duplicated = out["duplicated"]["data"]
    assert_contact(duplicated["newContact"])
    assert duplicated["newContact"]["email"] == "carol2@example.org"
    assert duplicated["sourceContact"]["id"] == out["created"]["data"]["id"]
    assert out["fields"]["data"]["customFields"] == {"plan": "pro", "seats": 3}
    assert out["deleted"] == {"success": True}
    assert out["afterDelete"] == {"success": False, "error": "Contact not found"}


def _audience_and_content(out: dict) -> None:
    assert out["listCreated"]["success"] is True and out["listCreated"]["data"]["type"] == "list"
    lists = out["lists"]["data"]["lists"]
    assert [entry["id"] for entry in lists] == ["GLOBAL_CONTACT_LIST", out["listCreated"]["data"]["id"]]
    assert out["segments"]["data"]["lists"] == []
    template = out["template"]["data"]
    assert template["templateId"].startswith("A-") and out["templateGot"]["data"]["templateName"] == "Welcome"


def _campaigns_and_domains(out: dict) -> None:
    failed(
        out["unverifiedSender"], 400, "A verified domain is required before adding an authenticated sender"
    )
    sender = out["sender"]["data"]["sender"]
    assert sender["email"] == "news@compat.example" and sender["replyTo"] == ""
    assert [s["email"] for s in out["senders"]["data"]["senders"]] == ["news@compat.example"]
    assert [d["domainName"] for d in out["domains"]["data"]["domains"]] == ["compat.example"]
    campaign = out["campaign"]["data"]
    assert campaign["status"] == "scheduled" and campaign["id"] == campaign["campaignId"]
    assert out["campaignGot"]["data"]["from"]["email"] == "news@compat.example"
    assert out["campaigns"]["data"]["pagination"]["total"] == 1
    failed(out["campaignDeleteRefused"], 400, "Only draft campaigns can be deleted")
    deleted = out["domainDeleted"]["data"]
    assert [s["email"] for s in deleted["deletedSenders"]] == ["news@compat.example"]
    assert [c["id"] for c in deleted["pausedCampaigns"]] == [campaign["id"]]
    after = out["campaignAfterDomain"]["data"]
    assert after["status"] == "paused" and "compat.example was deleted" in after["pausedReason"]


def _suppressions_and_webhooks(out: dict) -> None:
    groups = out["groups"]["data"]["groups"]
    assert [(g["isGlobal"], g["isDefault"]) for g in groups] == [(True, False), (False, True)]
    assert out["groupCreated"]["data"]["name"] == "News" and len(out["groupCreated"]["data"]["groupId"]) == 6
    assert out["suppressed"]["data"] == {"suppressed": 1}
    entries = {e["email"]: e["groupId"] for e in out["entriesAll"]["data"]}
    assert entries == {"s@example.org": groups[1]["groupId"], "g@example.org": groups[0]["groupId"]}
    webhook = out["webhook"]["data"]["webhook"]
    assert webhook["secret"].startswith("whsec_") and webhook["events"] == ["email.sent"]
    listed = out["webhooks"]["data"]
    assert listed["total"] == 1 and listed["webhooks"][0]["secret"] == "***hidden***"
    assert out["webhookDeleted"]["success"] is True
