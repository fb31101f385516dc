"""/v1/automations over HTTP on both databases: the object, every validation and state code of
reference §2, list filters and pages, and other projects' ids (404)."""

from __future__ import annotations

import pytest

BASE = "/v1/automations"
EMAIL = {"htmlTemplate": "<p>Hi {{first_name}}</p>", "subject": "Welcome", "senderEmail": "team@example.com"}


def series(*delays: int) -> list[dict]:
    """wait → email pairs with these delays (minutes)."""
    steps = []
    for n, minutes in enumerate(delays, 1):
        steps += [
            {"type": "wait", "stepId": f"wait_{n}", "delay": {"value": minutes, "unit": "minutes"}},
            {"type": "email", "stepId": f"email_{n}", "email": {**EMAIL, "subject": f"Mail {n}"}},
        ]
    return steps


async def create(api, tenant, **body):
    return await api.client.post(BASE, json={"name": "Welcome", **body}, headers=tenant.headers)


async def listed(api, tenant, query: str = "") -> dict:
    return (await api.client.get(f"{BASE}{query}", headers=tenant.headers)).json()["data"]


async def test_create_draft_then_get(api, tenant):
    response = await create(api, tenant, steps=series(0, 60), tags=["onboarding"], description="first steps")
    assert response.status_code == 201, response.text
    made = response.json()["data"]
    assert made["status"] == "draft" and made["activeAt"] is None and made["organizationId"]
    assert made["entryCriteria"]["type"] == "contact_created" and made["exitCriteria"] == {
        "type": "workflow_complete"
    }
    assert [s["nextStepId"] for s in made["steps"][:-1]] == ["email_1", "wait_2", "email_2"]
    assert "nextStepId" not in made["steps"][-1]
    got = (await api.client.get(f"{BASE}/{made['id']}", headers=tenant.headers)).json()["data"]
    assert got["steps"] == made["steps"] and got["tags"] == ["onboarding"]
    assert got["settings"]["timezone"] == "UTC"
    assert got["analytics"]["totalEntered"] == 0 and got["analytics"]["steps"] == {}


async def test_step_ids_are_generated(api, tenant):
    steps = [{"type": "wait", "delay": {"value": 1, "unit": "days"}}, {"type": "email", "email": EMAIL}]
    made = (await create(api, tenant, steps=steps)).json()["data"]
    first, second = made["steps"]
    assert first["stepId"].startswith("step_") and first["nextStepId"] == second["stepId"] != first["stepId"]


async def test_create_active_and_activation_checks(api, tenant):
    made = (await create(api, tenant, steps=series(0), active=True)).json()["data"]
    assert made["status"] == "active" and made["activeAt"]
    for body, text in [
        ({"steps": []}, "email step"),
        ({"steps": series(0), "entryCriteria": {"type": "event_trigger", "eventName": "nope"}}, "nope"),
        (
            {
                "steps": series(0),
                "entryCriteria": {"type": "contact_added_to_list", "contactListId": "0" * 24},
            },
            "not found",
        ),
        ({"steps": series(0), "entryCriteria": {"type": "contact_added_to_list"}}, "contactListId"),
        ({"steps": series(0), "unsubscribeGroupId": "NOPE"}, "NOPE"),
        ({"steps": [series(0)[0], {"type": "email", "email": {"templateId": "A-" + "0" * 20}}]}, "template"),
        (
            {"steps": [series(0)[0], {"type": "email", "email": {"htmlTemplate": "x", "subject": "s"}}]},
            "senderEmail",
        ),
    ]:
        response = await create(api, tenant, active=True, **body)
        assert response.status_code == 400, body
        assert (
            response.json()["error"]["code"] == "CANNOT_ACTIVATE_AUTOMATION"
            and text in response.json()["error"]["message"]
        )
    assert (await listed(api, tenant))["pagination"]["total"] == 1


BAD_SEQUENCES = [
    [{"type": "email", "email": EMAIL}],
    [{"type": "wait", "delay": {"value": 1, "unit": "days"}}],
    series(0)[:1] * 1 + [{"type": "wait", "stepId": "w2", "delay": {"value": 1, "unit": "days"}}],
    [*series(0), {"type": "email", "stepId": "again", "email": EMAIL}],
    [
        {"type": "wait", "stepId": "w", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "b"},
        {
            "type": "branch",
            "stepId": "b",
            "branches": [{"branchId": "x", "nextStepId": "e", "filterCriteria": None}],
        },
        {"type": "email", "stepId": "e", "email": EMAIL},
    ],
    [
        {"type": "wait", "stepId": "w", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "b"},
        {"type": "branch", "stepId": "b", "branches": [{"branchId": "x", "nextStepId": "missing"}]},
    ],
    [
        {"type": "wait", "stepId": "w", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "b"},
        {"type": "branch", "stepId": "b", "branches": [{"branchId": "x", "nextStepId": "w"}]},
    ],
]


@pytest.mark.parametrize("steps", BAD_SEQUENCES)
async def test_invalid_step_sequences(api, tenant, steps):
    response = await create(api, tenant, steps=steps)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_STEP_SEQUENCE"
    assert (await listed(api, tenant))["workflowAutomations"] == []


@pytest.mark.parametrize(
    "body,code",
    [
        ({"name": None}, "NAME_REQUIRED"),
        ({"name": "  "}, "NAME_REQUIRED"),
        ({"steps": [series(0)[0], {"type": "email", "email": {"subject": "x"}}]}, "EMAIL_TEMPLATE_REQUIRED"),
        (
            {"steps": [series(0)[0], {"type": "email", "email": {"htmlTemplate": "<p>x</p>"}}]},
            "EMAIL_TEMPLATE_REQUIRED",
        ),
        ({"steps": [series(0)[0], {"type": "email"}]}, "EMAIL_TEMPLATE_REQUIRED"),
        ({"steps": [series(0)[0], {"type": "branch", "stepId": "b"}]}, "BRANCH_BRANCHES_REQUIRED"),
        (
            {"steps": [series(0)[0], {"type": "branch", "stepId": "b", "branches": []}]},
            "BRANCH_BRANCHES_REQUIRED",
        ),
        ({"entryCriteria": {"type": "event_trigger"}}, "EVENT_NAME_REQUIRED"),
        ({"name": 5}, "VALIDATION_FAILED"),
        ({"name": "x" * 256}, "VALIDATION_FAILED"),
        ({"description": "x" * 1001}, "VALIDATION_FAILED"),
        ({"steps": "wait"}, "VALIDATION_FAILED"),
        ({"steps": [{"type": "sms"}]}, "VALIDATION_FAILED"),
        ({"steps": [{"type": "wait", "delay": {"value": -1, "unit": "days"}}]}, "VALIDATION_FAILED"),
        ({"steps": [{"type": "wait", "delay": {"value": 1, "unit": "weeks"}}]}, "VALIDATION_FAILED"),
        ({"entryCriteria": {"type": "segment_match"}}, "VALIDATION_FAILED"),
        (
            {
                "entryCriteria": {
                    "filterCriteria": {
                        "groups": [
                            {"field": "plan", "fieldType": "string", "operator": "above", "value": "x"}
                        ]
                    }
                }
            },
            "VALIDATION_FAILED",
        ),
        ({"exitCriteria": {"type": "never"}}, "VALIDATION_FAILED"),
        ({"active": "yes"}, "VALIDATION_FAILED"),
        ({"tags": "a,b"}, "VALIDATION_FAILED"),
        ({"trackingOpen": 1}, "VALIDATION_FAILED"),
    ],
)
async def test_bad_bodies_have_precise_codes_and_write_nothing(api, tenant, body, code):
    response = await api.client.post(BASE, json={"name": "Welcome", **body}, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert (await listed(api, tenant))["workflowAutomations"] == []


async def test_limits_at_the_bound(api, tenant):
    assert (await create(api, tenant, name="x" * 255, steps=series(*range(10)))).status_code == 201
    too_many = await create(api, tenant, steps=series(*range(11)))
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_legacy_conditions_key_is_accepted(api, tenant):
    criteria = {
        "logicalOperator": "AND",
        "conditions": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}],
    }
    made = await create(
        api, tenant, entryCriteria={"type": "contact_property_matches_with", "filterCriteria": criteria}
    )
    assert made.status_code == 201
    assert made.json()["data"]["entryCriteria"]["filterCriteria"]["groups"][0]["value"] == "pro"


async def test_lifecycle_and_state_codes(api, tenant):
    aid = (await create(api, tenant, steps=series(0))).json()["data"]["id"]
    url = f"{BASE}/{aid}"
    pause = await api.client.post(f"{url}/pause", headers=tenant.headers)
    assert pause.status_code == 400 and pause.json()["error"]["code"] == "CANNOT_PAUSE_INACTIVE_AUTOMATION"
    resume = await api.client.post(f"{url}/resume", headers=tenant.headers)
    assert resume.status_code == 400 and resume.json()["error"]["code"] == "CANNOT_ACTIVATE_AUTOMATION"
    active = await api.client.patch(url, json={"active": True, "name": "Renamed"}, headers=tenant.headers)
    assert active.json()["data"]["status"] == "active" and active.json()["data"]["name"] == "Renamed"
    edit = await api.client.patch(url, json={"name": "Again"}, headers=tenant.headers)
    assert edit.status_code == 400 and edit.json()["error"]["code"] == "CANNOT_EDIT_AUTOMATION"
    paused = (await api.client.post(f"{url}/pause", headers=tenant.headers)).json()["data"]
    assert set(paused) == {"id", "name", "status", "updatedAt"} and paused["status"] == "paused"
    edited = await api.client.patch(url, json={"steps": series(5)}, headers=tenant.headers)
    assert edited.status_code == 200 and edited.json()["data"]["status"] == "paused"
    resumed = (await api.client.post(f"{url}/resume", headers=tenant.headers)).json()["data"]
    assert resumed["status"] == "active" and resumed["activeAt"]
    again = await api.client.post(f"{url}/resume", headers=tenant.headers)
    assert again.json()["error"]["code"] == "CANNOT_ACTIVATE_AUTOMATION"
    await api.client.post(f"{url}/pause", headers=tenant.headers)
    draft = await api.client.patch(url, json={"active": False}, headers=tenant.headers)
    assert draft.json()["data"]["status"] == "draft"
    deleted = await api.client.delete(url, headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Workflow automation deleted successfully"}
    gone = await api.client.get(url, headers=tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"
    again = await api.client.delete(url, headers=tenant.headers)
    assert again.status_code == 404 and again.json()["error"] == {
        "message": "Automation not found",
        "code": "AUTOMATION_NOT_FOUND",
        "status": 404,
    }


async def test_resume_rechecks_activation(api, tenant):
    await api.client.post("/v1/events", json={"eventName": "paid"}, headers=tenant.headers)
    made = (
        await create(
            api,
            tenant,
            steps=series(0),
            active=True,
            entryCriteria={"type": "event_trigger", "eventName": "paid"},
        )
    ).json()["data"]
    await api.client.post(f"{BASE}/{made['id']}/pause", headers=tenant.headers)
    await api.client.delete("/v1/events/eventName/paid", headers=tenant.headers)
    resume = await api.client.post(f"{BASE}/{made['id']}/resume", headers=tenant.headers)
    assert resume.status_code == 400 and resume.json()["error"]["code"] == "CANNOT_ACTIVATE_AUTOMATION"
    got = (await api.client.get(f"{BASE}/{made['id']}", headers=tenant.headers)).json()["data"]
    assert got["status"] == "paused"


async def test_bad_patch_changes_nothing(api, tenant):
    aid = (await create(api, tenant, steps=series(0))).json()["data"]["id"]
    response = await api.client.patch(
        f"{BASE}/{aid}",
        json={"name": "New", "steps": [{"type": "email", "email": EMAIL}]},
        headers=tenant.headers,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_STEP_SEQUENCE"
    got = (await api.client.get(f"{BASE}/{aid}", headers=tenant.headers)).json()["data"]
    assert got["name"] == "Welcome" and len(got["steps"]) == 2


async def test_list_filters_and_pages(api, tenant):
    for n in range(3):
        await create(api, tenant, name=f"A{n}", steps=series(0), tags=["a", f"n{n}"], active=n == 0)
    page = await listed(api, tenant, "?limit=2&page=2")
    assert [a["name"] for a in page["workflowAutomations"]] == ["A0"]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3, "pages": 2, "totalPages": 2}
    assert [a["name"] for a in (await listed(api, tenant, "?status=active"))["workflowAutomations"]] == ["A0"]
    assert [a["name"] for a in (await listed(api, tenant, "?tags=n1,n2"))["workflowAutomations"]] == [
        "A2",
        "A1",
    ]
    first = (await listed(api, tenant))["workflowAutomations"][0]
    assert {"sent", "delivered", "opened", "clicked", "bounced", "totalEntered"} <= set(first["analytics"])
    huge = "?page=1071000626102757092339004590784512"  # an offset past PostgreSQL's bigint
    for query in ("?status=done", "?limit=101", "?limit=0", "?page=0", "?page=1000001", huge, "?limit=x"):
        response = await api.client.get(f"{BASE}{query}", headers=tenant.headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED", query


async def test_auth_and_other_projects(api, tenant, other_tenant):
    aid = (await create(api, tenant, steps=series(0), active=True)).json()["data"]["id"]
    assert (await api.client.get(BASE)).status_code == 401
    assert (await api.client.post(BASE, json={"name": "x"})).status_code == 401
    assert (await api.client.get(BASE, headers={"Authorization": "Bearer AS_nope"})).status_code == 401
    assert (await listed(api, other_tenant))["workflowAutomations"] == []
    for method, path in [("GET", ""), ("PATCH", ""), ("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")]:
        response = await api.client.request(
            method, f"{BASE}/{aid}{path}", json={"name": "x"}, headers=other_tenant.headers
        )
        assert response.status_code == 404, (method, path)
    got = (await api.client.get(f"{BASE}/{aid}", headers=tenant.headers)).json()["data"]
    assert got["status"] == "active" and got["name"] == "Welcome"
