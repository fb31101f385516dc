"""Inputs that once gave a 500 or were stored wrongly now get a clear 400 and change nothing, on both
databases: a 30-digit integer in a segment condition, lone surrogates, `1e400`, deep nesting; and a
dashboard CSV import with a cell over the csv module's 128 KiB limit ends as failed, not running."""

from __future__ import annotations

import asyncio

import pytest

from sendhouse.services import dashboard as dashboard_service
from tests.integration.test_dashboard_pages import _login

BASE = "/v1/contact-lists"
HUGE = "123456789012345678901234567890"


def _criteria(value: str, name: str = "Big") -> str:
    return (
        '{"name": "' + name + '", "type": "segment", "filterCriteria": {"logicalOperator": "AND", "groups": '
        f'[{{"field": "age", "fieldType": "number", "operator": "greater_than", "value": {value}}}]}}}}'
    )


async def _post_raw(api, tenant, path: str, raw: str):
    headers = {**tenant.headers, "content-type": "application/json"}
    return await api.client.post(path, content=raw.encode("utf-8", "surrogatepass"), headers=headers)


def _refused(response, words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED", error
    assert [d["field"] for d in error["details"]] == ["body"] and words in error["details"][0]["message"], (
        error
    )


async def _segment_names(api, tenant) -> list[str]:
    listed = await api.client.get(BASE, params={"type": "segment"}, headers=tenant.headers)
    return [x["name"] for x in listed.json()["data"]["lists"]]


@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "9223372036854775808", "1e400", "-1e400", "1e300"])
async def test_numbers_beyond_64_bits_are_refused(api, tenant, value):
    _refused(await _post_raw(api, tenant, BASE, _criteria(value)), "between -2^63 and 2^63")
    assert await _segment_names(api, tenant) == []  # nothing was made (the global list is not a segment)


async def test_numbers_within_64_bits_still_work(api, tenant):
    made = await _post_raw(api, tenant, BASE, _criteria("9223372036854775807"))
    assert made.status_code == 200, made.text
    made = await _post_raw(api, tenant, BASE, _criteria("-1.5e18", "Small"))
    assert made.status_code == 200, made.text


@pytest.mark.parametrize("raw", ['"\\ud800"', '"a\\udfffb"', '"\\ud83d x"'])
async def test_lone_surrogates_are_refused(api, tenant, raw):
    body = '{"email": "s@example.com", "firstName": ' + raw + "}"
    _refused(await _post_raw(api, tenant, "/v1/contacts", body), "lone surrogates")
    listed = await api.client.post(
        f"{BASE}/contacts/search", json={"contactListId": "GLOBAL_CONTACT_LIST"}, headers=tenant.headers
    )
    assert listed.json()["data"]["contacts"] == []


async def test_a_paired_surrogate_escape_is_an_ordinary_character(api, tenant):
    made = await _post_raw(
        api, tenant, "/v1/contacts", '{"email": "s@example.com", "firstName": "\\ud83d\\ude00"}'
    )
    assert made.status_code in (200, 201), made.text
    assert made.json()["data"]["firstName"] == "\U0001f600"


async def test_deep_nesting_and_malformed_json_are_refused(api, tenant):
    deep = '{"email": "d@example.com", "customFields": {"x": ' + "[" * 100 + "]" * 100 + "}}"
    _refused(await _post_raw(api, tenant, "/v1/contacts", deep), "nested deeper")
    _refused(await _post_raw(api, tenant, "/v1/contacts", '{"email": '), "malformed JSON")


async def test_webhook_routes_keep_their_validation_code(api, tenant):
    response = await _post_raw(api, tenant, "/v1/webhooks", '{"url": "https://a.example", "events": [1e400]}')
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


async def _wait_finished(api, job_id: str):
    job = dashboard_service.get_import(api.container.extras, _project(api, job_id), job_id)
    await asyncio.wait_for(job.task, timeout=60)
    return job


def _project(api, job_id: str) -> str:
    return api.container.extras["dashboard_imports"][job_id].project_id


async def test_dashboard_import_with_a_huge_cell_fails_with_a_clear_message(api, tenant):
    csrf = await _login(api, tenant)
    content = "email,firstName\nok@example.com,Ok\nbig@example.com," + "x" * (140 * 1024) + "\n"
    mapping = await api.client.post(
        "/app/imports",
        data={"csrf_token": csrf},
        files={"file": ("people.csv", content.encode(), "text/csv")},
    )
    # the column-mapping step reads the file first: the oversized cell is reported there, nothing starts
    assert mapping.status_code == 303 and mapping.headers["location"].endswith("/imports/new"), mapping.text
    page = await api.client.get(mapping.headers["location"])
    assert "field larger than field limit" in page.text
