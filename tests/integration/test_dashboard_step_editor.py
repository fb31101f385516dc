"""The automation step editor over the ASGI app on both databases: the form's fields become the
`steps` JSON the API takes (stepIds kept, nextStepId the following step unless chosen, branches
with their condition, target and merge step, the steps of a branch marked inside it); a stored
automation loads into the editor and posts back unchanged; the add / remove / move / branch
buttons change the form and save nothing; a refused save keeps what was typed and shows the
message next to its step; the JSON fold loads pasted steps into the editor."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from tests.integration.test_dashboard_pages import _login
from tests.support.automation_data import automation

KEEP = ("csrf_token", "name", "triggerType", "contactListId", "eventName", "unsubscribeGroupId")


class _Form(HTMLParser):
    """The fields of the page's editing form as a browser would post them (no button pressed)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        named = {k: v or "" for k, v in attrs}
        name = named.get("name")
        if tag == "input" and name and named.get("type") not in ("submit", "checkbox"):
            self.fields[name] = named.get("value", "")
        elif tag == "input" and name and "checked" in named:
            self.fields[name] = "on"
        elif tag == "select":
            self.select, self.first_option = name, None
        elif tag == "option" and self.select:
            self.first_option = self.first_option if self.first_option is not None else named.get("value", "")
            if "selected" in named:
                self.fields[self.select] = named.get("value", "")
        elif tag == "textarea":
            self.textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag):
        if tag == "select" and self.select:
            self.fields.setdefault(self.select, self.first_option or "")
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data


def form_of(html: str) -> dict[str, str]:
    parser = _Form()
    parser.feed(html[html.index('name="csrf_token"') - 40 :])
    return parser.fields


async def _template(api, tenant, name: str) -> str:
    made = await api.client.post(
        "/v1/templates",
        headers=tenant.headers,
        json={"templateName": name, "subject": name, "emailTemplate": f"<p>{name}</p>"},
    )
    assert made.status_code in (200, 201), made.text
    return made.json()["data"]["templateId"]


def _wait(i: int, step_id: str, value: str, unit: str) -> dict:
    return {
        f"s{i}_kind": "wait",
        f"s{i}_id": step_id,
        f"s{i}_value": value,
        f"s{i}_unit": unit,
        f"s{i}_checkExit": "on",
    }


def _email(i: int, step_id: str, template_id: str, **extra: str) -> dict:
    return {
        f"s{i}_kind": "email",
        f"s{i}_id": step_id,
        f"s{i}_templateId": template_id,
        f"s{i}_checkExit": "on",
    } | {f"s{i}_{k}": v for k, v in extra.items()}


async def _stored(api, tenant, location: str) -> dict:
    automation_id = location.rsplit("/", 1)[1]
    answer = await api.client.get(f"/v1/automations/{automation_id}", headers=tenant.headers)
    return answer.json()["data"]


async def test_a_welcome_series_from_the_form_is_the_steps_json_of_the_api(api, tenant):
    token = await _login(api, tenant)
    hello, tips = await _template(api, tenant, "Hello"), await _template(api, tenant, "Tips")
    form = {"csrf_token": token, "name": "Welcome", "triggerType": "contact_created", "step_count": "4"}
    form |= _wait(0, "wait_a", "1", "days") | _email(1, "email_a", hello, subject="Hi there")
    form |= _wait(2, "wait_b", "2", "days") | _email(3, "email_b", tips, senderEmail="team@shop.example")
    made = await api.client.post("/app/automations", data=form)
    assert made.status_code == 303, made.text
    stored = await _stored(api, tenant, made.headers["location"])
    assert [(s["stepId"], s["type"], s.get("nextStepId")) for s in stored["steps"]] == [
        ("wait_a", "wait", "email_a"),
        ("email_a", "email", "wait_b"),
        ("wait_b", "wait", "email_b"),
        ("email_b", "email", None),
    ]
    assert stored["steps"][0]["delay"] == {"value": 1, "unit": "days"}
    assert stored["steps"][2]["delay"] == {"value": 2, "unit": "days"}
    assert stored["steps"][1]["email"].items() >= {"templateId": hello, "subject": "Hi there"}.items()
    assert (
        stored["steps"][3]["email"].items()
        >= {"templateId": tips, "senderEmail": "team@shop.example"}.items()
    )
    assert "previewText" not in stored["steps"][1]["email"]  # an empty field is left out
    assert all(s["checkExitCriteria"] is True for s in stored["steps"])
    form = form_of((await api.client.get("/app" + made.headers["location"].removeprefix("/app"))).text)
    assert (form["s1_subject"], form["s3_subject"]) == (
        "Hi there",
        "",
    )  # the template's subject is not pinned
    assert (form["s0_value"], form["s0_unit"], form["s3_templateId"]) == ("1", "days", tips)


BRANCHED = [
    {"type": "wait", "stepId": "w1", "delay": {"value": 0, "unit": "minutes"}, "nextStepId": "b1"},
    {
        "type": "branch",
        "stepId": "b1",
        "nextStepId": "w3",
        "branches": [
            {
                "branchId": "pro",
                "label": "Pro plan",
                "triggerType": "contact_property_matches_with",
                "appliesTo": "all_branch_steps",
                "filterCriteria": {
                    "logicalOperator": "AND",
                    "groups": [
                        {"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}
                    ],
                },
                "nextStepId": "w2",
                "mergeStepId": "w3",
            },
            {
                "branchId": "big",
                "label": "Big order",
                "triggerType": "event_property",
                "appliesTo": "branch_entry",
                "filterCriteria": {
                    "logicalOperator": "OR",
                    "groups": [
                        {
                            "field": "event.properties.total",
                            "fieldType": "number",
                            "operator": "greater_than",
                            "value": 100,
                        },
                        {
                            "field": "event.properties.total",
                            "fieldType": "number",
                            "operator": "between",
                            "value": [1, 5],
                        },
                    ],
                },
                "nextStepId": "w3",
            },
        ],
    },
    {
        "type": "wait",
        "stepId": "w2",
        "delay": {"value": 3, "unit": "hours"},
        "nextStepId": "e2",
        "checkExitCriteria": False,
    },
    {
        "type": "email",
        "stepId": "e2",
        "email": {"htmlTemplate": "<p>Pro</p>", "subject": "For pros"},
        "nextStepId": "w3",
    },
    {"type": "wait", "stepId": "w3", "delay": {"value": 1, "unit": "days"}, "nextStepId": "e3"},
    {"type": "email", "stepId": "e3", "email": {"htmlTemplate": "<p>All</p>", "subject": "For all"}},
]


def _shape(steps: list[dict]) -> list[dict]:
    """Steps without what the editor derives (which steps are inside a branch)."""
    return [{k: v for k, v in s.items() if k not in ("parentBranchStepId", "parentBranchId")} for s in steps]


async def test_a_stored_automation_loads_into_the_editor_and_posts_back_unchanged(api, tenant):
    automation_id = await automation(api, tenant, name="Branched", active=False, steps=BRANCHED)
    before = (await api.client.get(f"/v1/automations/{automation_id}", headers=tenant.headers)).json()["data"]
    await _login(api, tenant)
    page = await api.client.get(f"/app/automations/{automation_id}")
    form = form_of(page.text)
    assert form["step_count"] == "6" and form["s1_kind"] == "branch" and form["s1_branches"] == "2"
    assert (form["s1_b0_field"], form["s1_b0_operator"], form["s1_b0_value"]) == ("plan", "equals", "pro")
    assert (form["s1_b0_next"], form["s1_b0_merge"], form["s1_b0_appliesTo"]) == (
        "",  # w2 is the following step
        "w3",
        "all_branch_steps",
    )
    assert form["s1_b1_field"] == "event.properties.total" and json.loads(form["s1_b1_extra"])["groups"][0][
        "value"
    ] == [1, 5]
    assert form["s1_then"] == "w3" and form["s2_then"] == "" and form["s3_then"] == ""
    assert form["s2_value"] == "3" and form["s2_unit"] == "hours" and "s2_checkExit" not in form
    assert form["s3_htmlTemplate"] == "<p>Pro</p>" and form["s3_subject"] == "For pros"
    saved = await api.client.post(f"/app/automations/{automation_id}", data=form)
    assert saved.status_code == 303, saved.text
    after = await _stored(api, tenant, saved.headers["location"])
    assert _shape(after["steps"]) == _shape(before["steps"])
    inside = {s["stepId"]: (s.get("parentBranchStepId"), s.get("parentBranchId")) for s in after["steps"]}
    assert inside == {
        "w1": (None, None),
        "b1": (None, None),
        "w2": ("b1", "pro"),
        "e2": ("b1", "pro"),
        "w3": (None, None),
        "e3": (None, None),
    }


async def test_a_branch_from_the_form_becomes_filter_criteria(api, tenant):
    token = await _login(api, tenant)
    form = {"csrf_token": token, "name": "Split", "triggerType": "contact_created", "step_count": "5"}
    form |= _wait(0, "w1", "0", "minutes") | {
        "s1_kind": "branch",
        "s1_id": "b1",
        "s1_then": "end",
        "s1_branches": "2",
    }
    form |= {"s1_b0_id": "x", "s1_b0_label": "Gold", "s1_b0_field": "score", "s1_b0_fieldType": "number"}
    form |= {
        "s1_b0_operator": "between",
        "s1_b0_value": "1, 5",
        "s1_b0_next": "",
        "s1_b0_appliesTo": "branch_entry",
    }
    form |= {
        "s1_b1_id": "y",
        "s1_b1_label": "Everyone else",
        "s1_b1_field": "",
        "s1_b1_next": "w4",
        "s1_b1_merge": "",
    }
    form |= _wait(2, "w2", "5", "minutes") | _email(3, "e2", "", htmlTemplate="<p>x</p>", subject="Gold")
    form |= (
        {"s3_then": "end"} | _wait(4, "w4", "1", "hours") | {"s5_kind": "email"}
    )  # beyond step_count: ignored
    made = await api.client.post("/app/automations", data=form)
    assert made.status_code == 303, made.text
    steps = (await _stored(api, tenant, made.headers["location"]))["steps"]
    assert len(steps) == 5 and "nextStepId" not in steps[1] and "nextStepId" not in steps[3]
    gold, rest = steps[1]["branches"]
    assert gold["filterCriteria"] == {
        "logicalOperator": "AND",
        "groups": [{"field": "score", "fieldType": "number", "operator": "between", "value": [1, 5]}],
    }
    assert (gold["nextStepId"], gold["triggerType"], gold["label"]) == (
        "w2",
        "contact_property_matches_with",
        "Gold",
    )
    assert rest["filterCriteria"] is None and rest["nextStepId"] == "w4" and "mergeStepId" not in rest
    assert steps[2]["parentBranchId"] == "x" and steps[4]["parentBranchId"] == "y"


async def test_the_buttons_change_the_form_and_save_nothing(api, tenant):
    token = await _login(api, tenant)
    form = form_of((await api.client.get("/app/automations/new")).text)
    assert form["step_count"] == "2" and (form["s0_kind"], form["s1_kind"]) == ("wait", "email")
    assert (
        re.fullmatch(r"wait_[0-9a-f]{4}", form["s0_id"])
        and form["s0_value"] == "1"
        and form["s0_unit"] == "days"
    )
    added = await api.client.post(
        "/app/automations", data={**form, "name": "Draft", "op": "add", "new_kind": "branch"}
    )
    assert added.status_code == 200
    form = form_of(added.text)
    assert form["step_count"] == "3" and form["s2_kind"] == "branch" and form["s2_branches"] == "1"
    form = form_of((await api.client.post("/app/automations", data={**form, "op": "branch:2"})).text)
    assert form["s2_branches"] == "2" and form["s2_b0_id"] != form["s2_b1_id"]
    form = form_of((await api.client.post("/app/automations", data={**form, "op": "unbranch:2:0"})).text)
    assert form["s2_branches"] == "1"
    first = form["s0_id"]
    form["s1_subject"] = "Kept"
    form = form_of((await api.client.post("/app/automations", data={**form, "op": "up:1"})).text)
    assert (form["s0_kind"], form["s0_subject"], form["s1_id"]) == ("email", "Kept", first)
    form["s2_b0_next"] = first
    form = form_of((await api.client.post("/app/automations", data={**form, "op": "remove:1"})).text)
    assert form["step_count"] == "2" and form["s1_b0_next"] == ""  # the link to the removed step is dropped
    assert form["name"] == "Draft"
    assert "No automation yet" in (await api.client.get("/app/automations")).text
    assert token


def _message(html: str, element_id: str) -> str:
    found = re.search(rf'<p class="field-error" id="{element_id}-error"[^>]*>([^<]*)</p>', html)
    return found[1] if found else ""


async def test_a_refused_save_keeps_the_steps_and_shows_the_message_at_its_step(api, tenant):
    token = await _login(api, tenant)
    hello = await _template(api, tenant, "Hello")
    form = {"csrf_token": token, "name": "Backwards", "triggerType": "contact_created", "step_count": "2"}
    form |= _email(0, "e1", hello, subject="Typed") | _wait(1, "w1", "1", "days")
    refused = await api.client.post("/app/automations", data=form)
    assert refused.status_code == 400
    assert _message(refused.text, "s0") == "Step 1: an email must come directly after a wait step"
    assert 'id="s0" aria-describedby="s0-error"' in refused.text and _message(refused.text, "s1") == ""
    kept = form_of(refused.text)
    assert (kept["s0_kind"], kept["s0_subject"], kept["s0_templateId"], kept["s1_value"]) == (
        "email",
        "Typed",
        hello,
        "1",
    )
    form = {**form, **_wait(0, "w1", "1", "days"), **_email(1, "e1", "")}
    missing = await api.client.post("/app/automations", data=form)
    assert missing.status_code == 400
    assert _message(missing.text, "s1") == "Step 2, email: choose a template (or give HTML and a subject)"
    bad_wait = await api.client.post(
        "/app/automations", data={**form, "s0_value": "soon", "s1_templateId": hello}
    )
    assert _message(bad_wait.text, "s0") == "Step 1, delay value: must be a non-negative integer"
    assert "No automation yet" in (await api.client.get("/app/automations")).text


async def test_the_json_fold_loads_pasted_steps_into_the_editor(api, tenant):
    token = await _login(api, tenant)
    form = form_of((await api.client.get("/app/automations/new")).text)
    assert json.loads(form["steps"])[0]["type"] == "wait"
    pasted = {**form, "csrf_token": token, "op": "json", "steps": json.dumps(BRANCHED)}
    loaded = form_of((await api.client.post("/app/automations", data=pasted)).text)
    assert loaded["step_count"] == "6" and loaded["s1_b1_label"] == "Big order"
    broken = await api.client.post("/app/automations", data={**form, "op": "json", "steps": "[{"})
    assert broken.status_code == 400 and "the steps are not valid JSON" in _message(broken.text, "a-steps")
    assert form_of(broken.text)["step_count"] == "2" and form_of(broken.text)["steps"] == "[{"
