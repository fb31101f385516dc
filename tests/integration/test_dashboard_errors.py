"""Form errors in plain words over the ASGI app on both databases: condition numbers and form
labels instead of API field paths, every broken template source reported at once."""

from __future__ import annotations

from tests.integration.test_dashboard_campaign_page import _login


async def test_segment_errors_name_the_condition_and_its_part(api, tenant):
    token = await _login(api, tenant)
    form = {
        "csrf_token": token,
        "logicalOperator": "AND",
        "field_0": "email",
        "fieldType_0": "string",
        "operator_0": "ends_with",
        "value_0": "@vip.example",
        "field_1": "score",
        "fieldType_1": "number",
        "operator_1": "greater_than",
        "value_1": "lots",
    }
    answer = (await api.client.post("/app/segments/count", data=form)).text
    assert (
        "Condition 2, value" in answer
        and "filterCriteria" not in answer
        and "Validation failed" not in answer
    )


async def test_every_broken_template_source_is_reported(api, tenant):
    token = await _login(api, tenant)
    answer = await api.client.post(
        "/app/templates/new",
        data={
            "csrf_token": token,
            "templateName": "Broken",
            "templateType": "marketing",
            "subject": "Hi {{name",
            "emailTemplate": "<p>{{#if vip}}VIP</p>",
        },
    )
    assert answer.status_code == 400
    assert "Subject: line 1, column 4: unclosed {{" in answer.text
    assert "HTML: line 1, column 4: unclosed {{#if}}" in answer.text
    assert (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"] == []


async def test_campaign_form_errors_use_the_form_labels(api, tenant):
    token = await _login(api, tenant)
    answer = await api.client.post(
        "/app/campaigns/new",
        data={
            "csrf_token": token,
            "name": "x" * 201,
            "subject": "S",
            "htmlTemplate": "<p>x</p>",
            "fromEmail": "nope",
        },
    )
    assert answer.status_code == 400 and "Name must be at most 200 characters" in answer.text
    assert "From address:" in answer.text and "from.email" not in answer.text
