"""The inbox API, on both databases: list filters and limits, get, attachments by id
and by index (signed downloadUrl fetched without a key returns the bytes exactly; expired or
tampered links are 404), raw source, replies (202 QUEUED, a transactional ledger row with threading
headers, and an answer to the reply joins the thread), auth, other projects, wrong input."""

from __future__ import annotations

import base64
import email
import email.policy
import time

import pytest
import sqlalchemy as sa

from sendhouse.domain import mime
from sendhouse.services import compose, inbound_receive, transactional
from sendhouse.services import inbound as service
from sendhouse.store.schema.campaigns import messages
from tests.support.dns_server import DnsServer
from tests.support.inbound_data import BOUNCE_DOMAIN, message

LINKS = mime.LinkSettings(public_url="http://sendhouse.test", bounce_domain="bounce.test", secret="s" * 32)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\r\n.\r\n\x00end"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 7


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    return settings.model_copy(update={"dns_resolver": dns_server.address, "bounce_domain": BOUNCE_DOMAIN})


async def deliver(api, project_id: str, raw: bytes, *, rcpt: str | None = None) -> str:
    """Receive `raw` for the project's default address as the SMTP receiver does."""
    domain = inbound_receive.default_domain(api.container.settings, project_id)
    envelope = inbound_receive.Envelope(
        mail_from="bob@nowhere.test",
        rcpt_tos=(rcpt or f"in@{domain}",),
        client_ip="127.0.0.1",
        helo="client.nowhere.test",
    )
    [stored] = await inbound_receive.receive(
        api.db, api.container.settings, envelope, raw, [inbound_receive.Route(project_id, domain, True)]
    )
    return stored


async def get(api, tenant, path: str, **params):
    return await api.client.get(path, params=params, headers=tenant.headers)


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


async def test_list_filters_and_pages(api, tenant):
    first = await deliver(
        api,
        tenant.project_id,
        message(sender="Ann <ann@a.test>", to="sales@x.test", subject="Pricing question"),
    )
    second = await deliver(
        api,
        tenant.project_id,
        message(
            sender="bob@b.test", to="Help <help@x.test>", subject="Broken login", headers={"Cc": "cc@x.test"}
        ),
    )
    items = (await get(api, tenant, "/v1/inbound/messages")).json()["data"]
    assert [i["id"] for i in items["items"]] == [second, first]
    assert items["pagination"]["total"] == 2 and items["pagination"]["limit"] == 50
    summary = items["items"][1]
    assert summary["from"] == {"email": "ann@a.test", "name": "Ann"} and summary["attachmentCount"] == 0
    assert summary["messageId"].startswith("<") and summary["status"] == "PROCESSED"
    cases = [
        ({"from": "ANN@a.test"}, [first]),
        ({"to": "help@x.test"}, [second]),
        ({"to": "cc@x.test"}, [second]),
        ({"to": "help@x"}, []),
        ({"search": "pricing"}, [first]),
        ({"threadId": second}, [second]),
        ({"dateFrom": "2000-01-01T00:00:00Z", "dateTo": "2000-01-02T00:00:00Z"}, []),
        ({"dateFrom": "2000-01-01T00:00:00Z"}, [second, first]),
        ({"limit": 1, "page": 2}, [first]),
    ]
    for params, expected in cases:
        found = (await get(api, tenant, "/v1/inbound/messages", **params)).json()["data"]["items"]
        assert [i["id"] for i in found] == expected, params


async def test_list_refuses_bad_parameters_and_needs_a_key(api, tenant):
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"page": 0},
        {"search": "x" * 201},
        {"dateFrom": "yesterday"},
        {"includeBlocked": "maybe"},
    ):
        assert (
            error(await get(api, tenant, "/v1/inbound/messages", **params), 400)["code"]
            == "VALIDATION_FAILED"
        )
    assert (await get(api, tenant, "/v1/inbound/messages", limit=200, search="x" * 200)).status_code == 200
    assert (await api.client.get("/v1/inbound/messages")).status_code == 401
    assert (
        await api.client.get("/v1/inbound/messages", headers={"Authorization": "Bearer AS_nope"})
    ).status_code == 401


async def test_get_shows_bodies_headers_and_verdicts_and_hides_other_projects(api, tenant, other_tenant):
    stored = await deliver(
        api,
        tenant.project_id,
        message(
            sender="ann@a.test",
            to="x@x.test",
            subject="Hi",
            html="<p>Hello</p>",
            headers={"Reply-To": "r@a.test"},
        ),
    )
    got = (await get(api, tenant, f"/v1/inbound/messages/{stored}")).json()["data"]
    assert got["html"].strip() == "<p>Hello</p>" and got["headers"]["reply-to"] == "r@a.test"
    assert got["replyTo"] == [{"email": "r@a.test", "name": None}]
    assert {got[k] for k in ("spfVerdict", "dkimVerdict", "dmarcVerdict")} <= {
        "PASS",
        "FAIL",
        "GRAY",
        "PROCESSING_FAILED",
    }
    assert (
        error(await get(api, other_tenant, f"/v1/inbound/messages/{stored}"), 404)["code"]
        == "INBOUND_EMAIL_NOT_FOUND"
    )
    assert (
        error(await get(api, tenant, "/v1/inbound/messages/" + "0" * 24), 404)["code"]
        == "INBOUND_EMAIL_NOT_FOUND"
    )
    assert error(await get(api, tenant, "/v1/inbound/messages/not-an-id"), 400)["code"] == "VALIDATION_FAILED"
    assert (await api.client.get(f"/v1/inbound/messages/{stored}")).status_code == 401


async def test_attachments_round_trip_byte_for_byte(api, tenant, other_tenant):
    raw = message(
        sender="ann@a.test",
        to="x@x.test",
        attachments=(("report.pdf", "application/pdf", PDF), ("pic.png", "image/png", PNG)),
    )
    stored = await deliver(api, tenant.project_id, raw)
    got = (await get(api, tenant, f"/v1/inbound/messages/{stored}")).json()["data"]
    pdf, png = got["attachments"]
    assert (pdf["filename"], pdf["contentType"], pdf["size"], pdf["index"]) == (
        "report.pdf",
        "application/pdf",
        len(PDF),
        0,
    )
    assert png["attachmentId"].startswith("att_") and png["index"] == 1
    for ref, content in ((pdf["attachmentId"], PDF), ("1", PNG)):
        link = (await get(api, tenant, f"/v1/inbound/messages/{stored}/attachments/{ref}")).json()["data"]
        assert link["expiresIn"] == 900 and link["downloadUrl"].startswith(
            "http://sendhouse.test/v1/inbound/"
        )
        fetched = await api.client.get(link["downloadUrl"])  # no key: the signed link is the credential
        assert fetched.status_code == 200 and fetched.content == content
        direct = await get(api, tenant, f"/v1/inbound/messages/{stored}/attachments/{ref}", download="true")
        assert direct.content == content and direct.headers["content-type"].startswith(link["contentType"])
        assert f'filename="{link["filename"]}"' in direct.headers["content-disposition"]
    base = f"/v1/inbound/messages/{stored}/attachments/"
    assert error(await get(api, tenant, base + "2"), 404)["code"] == "ATTACHMENT_NOT_FOUND"
    assert error(await get(api, tenant, base + "att_" + "0" * 24), 404)["code"] == "ATTACHMENT_NOT_FOUND"
    assert error(await get(api, tenant, base + "-1"), 400)["code"] == "VALIDATION_FAILED"
    assert error(await get(api, other_tenant, base + "0"), 404)["code"] == "INBOUND_EMAIL_NOT_FOUND"


async def test_download_links_expire_and_cannot_be_forged(api, tenant):
    stored = await deliver(
        api,
        tenant.project_id,
        message(
            sender="ann@a.test", to="x@x.test", attachments=(("a.bin", "application/octet-stream", PNG),)
        ),
    )
    att = (await get(api, tenant, f"/v1/inbound/messages/{stored}")).json()["data"]["attachments"][0]
    settings = api.container.settings
    expired = service.signed_url(
        settings, "attachment", stored, att["attachmentId"], 900, now=time.time() - 901
    )
    assert error(await api.client.get(expired), 404)["code"] == "DOWNLOAD_NOT_FOUND"
    fresh = service.signed_url(settings, "attachment", stored, att["attachmentId"], 900)
    assert (await api.client.get(fresh)).content == PNG
    assert (
        await api.client.get(fresh[:-2] + ("AA" if not fresh.endswith("AA") else "BB"))
    ).status_code == 404


async def test_raw_source_as_a_link_and_as_bytes(api, tenant, other_tenant):
    raw = message(sender="ann@a.test", to="x@x.test", subject="Raw")
    stored = await deliver(api, tenant.project_id, raw)
    link = (await get(api, tenant, f"/v1/inbound/messages/{stored}/raw")).json()["data"]
    assert link["expiresIn"] == 300
    assert (await api.client.get(link["url"])).content == raw
    assert (await get(api, tenant, f"/v1/inbound/messages/{stored}/raw", download="true")).content == raw
    assert (await get(api, other_tenant, f"/v1/inbound/messages/{stored}/raw")).status_code == 404


async def test_reply_is_queued_threaded_and_an_answer_to_it_joins_the_thread(api, tenant):
    original = message(
        sender="Ann <ann@a.example.org>",
        to="x@x.example.com",
        subject="Order 42",
        headers={"Reply-To": "orders@a.example.org", "References": "<older@a.example.org>"},
    )
    stored = await deliver(api, tenant.project_id, original)
    got = (await get(api, tenant, f"/v1/inbound/messages/{stored}")).json()["data"]
    body = {
        "from": {"email": "support@x.example.com", "name": "Support"},
        "text": "Shipped today.",
        "cc": [{"email": "boss@x.example.com"}],
        "attachments": [{"fileName": "label.txt", "content": base64.b64encode(b"label").decode()}],
    }
    response = await api.client.post(
        f"/v1/inbound/messages/{stored}/reply", json=body, headers=tenant.headers
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert (data["status"], data["totalRecipients"], data["message"]) == (
        "QUEUED",
        2,
        "Email queued successfully.",
    )
    async with api.db.read() as conn:
        row = (
            (await conn.execute(sa.select(messages).where(messages.c.id == data["emailId"]))).mappings().one()
        )
    content = row["payload"]["content"]
    assert (
        row["kind"] == "transactional"
        and row["email"] == "orders@a.example.org"
        and row["status"] == "queued"
    )
    assert content["subject"] == "Re: Order 42"
    assert content["headers"] == {
        "In-Reply-To": got["messageId"],
        "References": f"<older@a.example.org> {got['messageId']}",
    }
    built = mime.compile_skeleton(transactional.transactional_spec(row["payload"], tenant.project_id), LINKS)
    sent = email.message_from_bytes(
        built.render(compose.recipient(row, compose.transactional_variables(row))).data,
        policy=email.policy.default,
    )
    assert (sent["In-Reply-To"], sent["Subject"], sent["To"]) == (
        got["messageId"],
        "Re: Order 42",
        "orders@a.example.org",
    )
    assert sent["References"].split() == ["<older@a.example.org>", got["messageId"]]
    answer = message(
        sender="ann@a.example.org",
        to="support@x.example.com",
        subject="Re: Re: Order 42",
        headers={"In-Reply-To": row["message_id_header"]},
    )
    answered = await deliver(api, tenant.project_id, answer)
    again = (await get(api, tenant, f"/v1/inbound/messages/{answered}")).json()["data"]
    assert again["threadId"] == got["threadId"] == stored
    assert again["inReplyToEmailActivityId"] == data["emailId"]


async def test_reply_refusals(api, tenant, other_tenant):
    stored = await deliver(api, tenant.project_id, message(sender="ann@a.example.org", to="x@x.example.com"))
    path = f"/v1/inbound/messages/{stored}/reply"
    good = {"from": {"email": "support@x.example.com"}, "text": "ok"}
    assert (
        error(await api.client.post(path, json={"text": "ok"}, headers=tenant.headers), 400)["details"][0][
            "field"
        ]
        == "from"
    )
    assert (await api.client.post(path, json={**good, "text": 5}, headers=tenant.headers)).status_code == 400
    assert (
        await api.client.post(path, json={**good, "subject": ""}, headers=tenant.headers)
    ).status_code == 400
    too_many = {**good, "cc": [{"email": f"c{i}@x.example.com"} for i in range(51)]}
    assert (await api.client.post(path, json=too_many, headers=tenant.headers)).status_code == 400
    assert (
        error(await api.client.post(path, json=good, headers=other_tenant.headers), 404)["code"]
        == "INBOUND_EMAIL_NOT_FOUND"
    )
    assert (await api.client.post(path, json=good)).status_code == 401
    missing = "/v1/inbound/messages/" + "0" * 24 + "/reply"
    assert (await api.client.post(missing, json=good, headers=tenant.headers)).status_code == 404
    async with api.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar() == 0
