"""Tracked links with non-ASCII characters are signed in their ASCII form (IDNA host, percent-encoded
path) and redirect intact; links holding control characters are refused when a template or campaign
is saved, and nothing is stored. Both databases."""

from __future__ import annotations

import re

from sendhouse.domain import tokens
from sendhouse.domain.urls import ascii_url, link_problems
from tests.support.feedback_data import click_path, events_of, sent_campaign
from tests.support.rendered_mail import rendered_body

MOSCOW = "https://ru.wikipedia.org/wiki/Москва"
MOSCOW_ASCII = "https://ru.wikipedia.org/wiki/%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0"
IDN = "https://москва.рф/путь?q=д"
IDN_ASCII = "https://xn--80adxhks.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C?q=%D0%B4"


def test_ascii_url_encodes_only_what_is_not_printable_ascii():
    assert ascii_url(MOSCOW) == MOSCOW_ASCII
    assert ascii_url(IDN) == IDN_ASCII
    assert ascii_url("https://Bücher.de:8443/a%20b c#ü") == "https://xn--bcher-kva.de:8443/a%20b%20c#%C3%BC"
    assert ascii_url("https://example.com/a?x=1&y=%20z") == "https://example.com/a?x=1&y=%20z"
    assert ascii_url(" https://example.com/a\r\nb\t ") == "https://example.com/ab"
    assert ascii_url("http://[::1]:80/ä") == "http://[::1]:80/%C3%A4"


def test_link_problems_names_each_href_with_a_control_character():
    html = '<a href="https://a.example/\r\nx">a</a><a href=\'https://b.example/\x00\'>b</a><a href="https://ok/">c</a>'
    problems = link_problems("html", html)
    assert [p["field"] for p in problems] == ["html", "html"]
    assert "\\x0d\\x0a" in problems[0]["message"] and "\\x00" in problems[1]["message"]
    assert link_problems("html", '<a href="https://a.example/Москва">ok</a>') == []


def _click_urls(html: str, variables: dict) -> list[str]:
    body = rendered_body(html, variables=variables)
    found = re.findall(r'href="http://sendhouse\.test/t/c/([^"]+)"', body)
    return [tokens.verify_click("test-secret-key", token).url for token in found]


def test_builder_signs_constant_and_personalised_links_in_ascii():
    html = f'<a href="{MOSCOW}">m</a><a href="https://{{{{city_host}}}}/путь?q=д">c</a>'
    assert _click_urls(html, {"city_host": "москва.рф"}) == [MOSCOW_ASCII, IDN_ASCII]


async def test_click_on_a_non_ascii_link_redirects_to_its_ascii_form(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    response = await api.client.get(click_path(rows[0]["id"], MOSCOW), follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == MOSCOW_ASCII
    response = await api.client.get(click_path(rows[0]["id"], MOSCOW_ASCII), follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"] == MOSCOW_ASCII
    await api.app.state.tracking.recorder.flush()
    assert [e["url"] for e in await events_of(api.db, campaign_id=cid, type="clicked")] == [MOSCOW_ASCII] * 2


async def _count(api, tenant, path: str) -> int:
    data = (await api.client.get(path, headers=tenant.headers)).json()["data"]
    return len(data["templates"]) if "templates" in data else data["pagination"]["total"]


def _refused(response, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and [d["field"] for d in error["details"]] == [field]


async def test_templates_with_control_characters_in_links_are_refused(api, tenant):
    bad = '<a href="https://example.com/a\r\nb">x</a>'
    made = await api.client.post(
        "/v1/templates",
        json={"templateName": "T", "subject": "S", "emailTemplate": bad},
        headers=tenant.headers,
    )
    _refused(made, "emailTemplate")
    assert await _count(api, tenant, "/v1/templates") == 0
    good = await api.client.post(
        "/v1/templates",
        json={"templateName": "T", "subject": "S", "emailTemplate": "<p/>"},
        headers=tenant.headers,
    )
    template_id = good.json()["data"]["templateId"]
    changed = await api.client.put(
        f"/v1/templates/{template_id}", json={"emailTemplate": bad}, headers=tenant.headers
    )
    _refused(changed, "emailTemplate")
    stored = await api.client.get(f"/v1/templates/{template_id}", headers=tenant.headers)
    assert stored.json()["data"]["emailTemplate"] == "<p/>"


async def test_campaigns_with_control_characters_in_links_are_refused(api, tenant):
    bad = "<a href='https://example.com/\x07'>x</a>"
    made = await api.client.post(
        "/v1/campaigns", json={"name": "C", "subject": "S", "htmlTemplate": bad}, headers=tenant.headers
    )
    _refused(made, "htmlTemplate")
    assert await _count(api, tenant, "/v1/campaigns") == 0
    good = await api.client.post(
        "/v1/campaigns", json={"name": "C", "subject": "S", "htmlTemplate": "<p/>"}, headers=tenant.headers
    )
    campaign_id = good.json()["data"]["id"]
    changed = await api.client.patch(
        f"/v1/campaigns/{campaign_id}", json={"htmlTemplate": bad}, headers=tenant.headers
    )
    _refused(changed, "htmlTemplate")
    stored = await api.client.get(f"/v1/campaigns/{campaign_id}", headers=tenant.headers)
    assert stored.json()["data"]["htmlTemplate"] == "<p/>"
