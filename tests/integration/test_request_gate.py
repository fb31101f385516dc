"""The request gate on both databases: a body is read only after its caller is known (API key,
MCP key, dashboard session), each route has the body limit its largest real request needs, and a
large JSON body is parsed off the event loop."""

from __future__ import annotations

import threading

import pytest

from sendhouse.api import json_body
from sendhouse.web.dashboard.audience import MAX_UPLOAD


class Recorded:
    """A raw ASGI exchange: whether the app ever asked for the body, and what it answered."""

    def __init__(self, body: bytes):
        self.body, self.reads, self.status, self.headers = body, 0, None, {}

    async def receive(self):
        self.reads += 1
        return {"type": "http.request", "body": self.body, "more_body": False}

    async def send(self, message):
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}


async def _raw(
    api, method: str, path: str, headers: dict[str, str], body: bytes, *, length: bool = True
) -> Recorded:
    pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if length:
        pairs.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": pairs,
        "client": ("127.0.0.1", 5000),
        "server": ("sendhouse.test", 80),
    }
    exchange = Recorded(body)
    await api.app(scope, exchange.receive, exchange.send)
    return exchange


BIG = b'{"email": "' + b"x" * (1024 * 1024) + b'"}'
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("length", [True, False])
@pytest.mark.parametrize("path", ["/v1/contacts", "/v1/mails/send", "/v1/nowhere"])
async def test_api_bodies_without_a_valid_key_are_never_read(api, tenant, path, length):
    for headers in ({}, {"authorization": "Bearer AS_wrong"}, {"x-api-key": "nope"}):
        exchange = await _raw(api, "POST", path, {**JSON, **headers}, BIG, length=length)
        assert (exchange.status, exchange.reads) == (401, 0), headers
    exchange = await _raw(
        api,
        "POST",
        "/v1/contacts",
        {**JSON, "authorization": f"Bearer {tenant.key}"},
        b'{"email": "ok@example.com"}',
    )
    assert (exchange.status, exchange.reads) == (200, 1)


async def test_mcp_bodies_without_a_valid_key_are_never_read(api):
    exchange = await _raw(api, "POST", "/mcp", {**JSON, "authorization": "Bearer AS_wrong"}, BIG)
    assert (exchange.status, exchange.reads) == (401, 0)
    assert exchange.headers["www-authenticate"].startswith("Bearer")


async def test_dashboard_posts_without_a_session_are_never_read(api):
    form = {"content-type": "multipart/form-data; boundary=xyz"}
    for path in ("/app/imports", "/app/campaigns/new", "/app/logout"):
        exchange = await _raw(api, "POST", path, form, b"--xyz\r\n" + b"x" * 1024 * 1024)
        assert (exchange.status, exchange.reads) == (303, 0), path
        assert exchange.headers["location"] == "/app/login"
    forged = {**form, "cookie": "sendhouse_session=eyJ1c2VyX2lkIjogIngifQ==.forged.sig"}
    exchange = await _raw(api, "POST", "/app/imports", forged, b"--xyz\r\n")
    assert (exchange.status, exchange.reads) == (303, 0)


async def test_each_route_has_the_limit_of_its_largest_real_request(api, tenant):
    settings = api.container.settings
    assert settings.max_body_bytes == 8 * 1024 * 1024 and settings.max_mail_body_bytes == 48 * 1024 * 1024
    headers = {**JSON, "authorization": f"Bearer {tenant.key}"}
    over_default = b" " * (settings.max_body_bytes + 1)
    for path in ("/v1/contacts", "/v1/templates", "/v1/campaigns"):
        exchange = await _raw(api, "POST", path, headers, over_default)
        assert (exchange.status, exchange.reads) == (413, 0), path
    mail = await _raw(api, "POST", "/v1/mails/send", headers, over_default)
    assert mail.status == 400 and mail.reads == 1  # read and parsed: the limit of mails is larger
    too_big_mail = await _raw(
        api, "POST", "/v1/mails/send", headers, b" " * (settings.max_mail_body_bytes + 1)
    )
    assert (too_big_mail.status, too_big_mail.reads) == (413, 0)
    assert api.app.state.body_limit("/app/imports") > MAX_UPLOAD


async def test_large_json_is_parsed_in_a_thread(api, tenant, monkeypatch):
    threads = []
    real = json_body.parse

    def spy(body: bytes):
        threads.append(threading.current_thread())
        return real(body)

    monkeypatch.setattr(json_body, "parse", spy)
    small = await api.client.post("/v1/contacts", json={"email": "s@example.com"}, headers=tenant.headers)
    large = await api.client.post(
        "/v1/contacts",
        json={
            "email": "l@example.com",
            "firstName": "L",
            "customFields": {"note": "n" * 9000},
            "pad": "p" * 100_000,
        },
        headers=tenant.headers,
    )
    assert small.status_code == 200 and large.status_code in (200, 400), large.text
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()
