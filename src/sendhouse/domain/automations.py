"""Automation rules (reference §2): the shape of an automation, its step graph, and the Python
evaluation of filterCriteria over a contact and the entering event.

Steps form a graph of `stepId` → `nextStepId` starting at the first step. Without any branch, a
step without nextStepId continues with the next step of the array, and the path must strictly
alternate wait → email, starting with a wait and ending with an email. With branches, a missing
nextStepId ends that path; every reference must name a step, the graph may not loop, and every
email step may only be reached from a wait step (INVALID_STEP_SEQUENCE). These errors, and
EMAIL_TEMPLATE_REQUIRED / BRANCH_BRANCHES_REQUIRED, name the step they are about in their details
(`steps[2]`), so a form can show the message next to that step.
"""

from __future__ import annotations

import itertools
import re
import secrets
from datetime import timedelta
from typing import Any, Literal, get_args

from sendhouse.domain.segments import date_interval, validate_criteria
from sendhouse.errors import InvalidInput, InvalidOperation

Status = Literal["draft", "active", "paused", "archived"]
STATUSES: tuple[str, ...] = get_args(Status)
TRIGGERS = (
    "contact_created",
    "contact_added_to_list",
    "contact_property_matches_with",
    "contact_property_changes_from_to",
    "event_trigger",
)
EXITS = ("workflow_complete", "entry_criteria_no_longer_met")
UNITS = {"minutes": 60, "mins": 60, "hours": 3600, "days": 86400}
BRANCH_TRIGGERS = ("contact_property_matches_with", "event_property")
APPLIES_TO = ("branch_entry", "all_branch_steps")
MAX_STEPS, MAX_EMAILS, MAX_BRANCHES = 100, 10, 10
MAX_DELAY = 3650  # days
STEP_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


AFTER_WAIT = "an email must come directly after a wait step"


def _about_step(message: str, code: str, index: int, words: str) -> InvalidOperation:
    """An error with a message and code, whose details name the step (by its place in the array)."""
    return InvalidOperation(message, code=code, details=[{"field": f"steps[{index}]", "message": words}])


def _bad_sequence(message: str, index: int, words: str) -> InvalidOperation:
    return _about_step(message, "INVALID_STEP_SEQUENCE", index, words)


def check_name(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidOperation("Automation name is required", code="NAME_REQUIRED")
    if not isinstance(value, str) or len(value) > 255:
        raise InvalidInput.field("name", "must be a string of at most 255 characters")
    return value


def check_text(value: Any, field: str, limit: int) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise InvalidInput.field(field, f"must be a string of at most {limit} characters")
    return value


def check_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > 50
        or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in value)
    ):
        raise InvalidInput.field("tags", "must be an array of at most 50 strings (1 to 100 characters)")
    return list(dict.fromkeys(value))


def check_filter(value: Any, field: str) -> dict | None:
    """filterCriteria (the older key `conditions` is taken for `groups`), or None."""
    if value is None:
        return None
    if isinstance(value, dict) and "groups" not in value and "conditions" in value:
        value = {**value, "groups": value["conditions"]}
    return validate_criteria(value, field=field)


def check_entry(value: Any) -> dict:
    """entryCriteria: {type, contactListId?, eventName?, filterCriteria?, propertyName?, fromValue?, toValue?}."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise InvalidInput.field("entryCriteria", "must be an object")
    kind = value.get("type", "contact_created")
    if kind not in TRIGGERS:
        raise InvalidInput.field("entryCriteria.type", f"must be one of {', '.join(TRIGGERS)}")
    event = value.get("eventName")
    if kind == "event_trigger" and (not isinstance(event, str) or not event):
        raise InvalidOperation(
            "eventName is required for an event_trigger automation", code="EVENT_NAME_REQUIRED"
        )
    entry = {
        "type": kind,
        "contactListId": check_text(value.get("contactListId"), "entryCriteria.contactListId", 64),
        "eventName": event if kind == "event_trigger" else None,
        "filterCriteria": check_filter(value.get("filterCriteria"), "entryCriteria.filterCriteria"),
    }
    if kind == "contact_property_changes_from_to":
        entry["propertyName"] = check_text(value.get("propertyName"), "entryCriteria.propertyName", 100)
        entry["fromValue"], entry["toValue"] = value.get("fromValue"), value.get("toValue")
    return entry


def check_exit(value: Any) -> dict:
    value = {} if value is None else value
    kind = value.get("type", "workflow_complete") if isinstance(value, dict) else None
    if kind not in EXITS:
        raise InvalidInput.field("exitCriteria.type", f"must be one of {', '.join(EXITS)}")
    return {"type": kind}


def new_step_id() -> str:
    return f"step_{secrets.token_hex(2)}"


def check_steps(value: Any) -> list[dict]:
    """The normalized steps with every stepId set and every link resolved (see the module doc)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_STEPS:
        raise InvalidInput.field("steps", f"must be an array of at most {MAX_STEPS} steps")
    steps = [_step(item, f"steps[{i}]") for i, item in enumerate(value)]
    _unique_ids(steps)
    if not any(s["type"] == "branch" for s in steps):
        for step, following in itertools.pairwise(steps):
            step.setdefault("nextStepId", following["stepId"])
    _check_graph(steps)
    return steps


def _unique_ids(steps: list[dict]) -> None:
    seen: set[str] = {s["stepId"] for s in steps if "stepId" in s}
    if len(seen) != sum(1 for s in steps if "stepId" in s):
        raise InvalidInput.field("steps", "stepIds must be unique")
    for step in (s for s in steps if "stepId" not in s):
        step_id = new_step_id()
        while step_id in seen:
            step_id = new_step_id()
        step["stepId"] = step_id
        seen.add(step_id)


def _step(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise InvalidInput.field(where, "must be an object")
    kind = item.get("type")
    if kind not in ("wait", "email", "branch"):
        raise InvalidInput.field(f"{where}.type", "must be wait, email or branch")
    step: dict[str, Any] = {"type": kind}
    for key in ("stepId", "nextStepId", "parentBranchStepId", "parentBranchId"):
        if item.get(key) is not None:
            if not isinstance(item[key], str) or not STEP_ID.match(item[key]):
                raise InvalidInput.field(
                    f"{where}.{key}", "letters, digits and _ . : - only, 1 to 100 characters"
                )
            step[key] = item[key]
    if kind != "branch":
        check = item.get("checkExitCriteria", True)
        if not isinstance(check, bool):
            raise InvalidInput.field(f"{where}.checkExitCriteria", "must be true or false")
        step["checkExitCriteria"] = check
    step.update({"wait": _wait, "email": _email, "branch": _branch}[kind](item, where))
    return step


def _wait(item: dict, where: str) -> dict:
    delay = item.get("delay")
    if not isinstance(delay, dict):
        raise InvalidInput.field(f"{where}.delay", "a wait step needs delay {value, unit}")
    value, unit = delay.get("value"), delay.get("unit")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput.field(f"{where}.delay.value", "must be a non-negative integer")
    if unit not in UNITS:
        raise InvalidInput.field(f"{where}.delay.unit", "must be minutes, mins, hours or days")
    if value * UNITS[unit] > MAX_DELAY * 86400:
        raise InvalidInput.field(f"{where}.delay.value", f"at most {MAX_DELAY} days")
    return {"delay": {"value": value, "unit": unit}}


EMAIL_FIELDS = {
    "templateId": 64,
    "htmlTemplate": 500_000,
    "subject": 988,
    "previewText": 140,
    "senderEmail": 320,
    "senderName": 200,
    "senderReplyToEmail": 320,
    "senderReplyToName": 200,
    "templateName": 200,
}


def _email(item: dict, where: str) -> dict:
    email = item["email"] if isinstance(item.get("email"), dict) else {}
    found = {k: check_text(email.get(k), f"{where}.email.{k}", limit) for k, limit in EMAIL_FIELDS.items()}
    if not found["templateId"] and not (found["htmlTemplate"] and found["subject"]):
        raise InvalidOperation(
            "An email step needs a templateId, or an htmlTemplate with a subject",
            code="EMAIL_TEMPLATE_REQUIRED",
            details=[
                {"field": f"{where}.email", "message": "choose a template (or give HTML and a subject)"}
            ],
        )
    return {"email": {k: v for k, v in found.items() if v is not None}}


def _branch(item: dict, where: str) -> dict:
    branches = item.get("branches")
    if not isinstance(branches, list) or not branches:
        raise InvalidOperation(
            "A branch step needs branches",
            code="BRANCH_BRANCHES_REQUIRED",
            details=[{"field": f"{where}.branches", "message": "add at least one branch"}],
        )
    if len(branches) > MAX_BRANCHES:
        raise InvalidInput.field(f"{where}.branches", f"at most {MAX_BRANCHES} branches")
    return {"branches": [_one_branch(b, f"{where}.branches[{i}]") for i, b in enumerate(branches)]}


def _one_branch(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise InvalidInput.field(where, "must be an object")
    trigger, applies = (
        item.get("triggerType", "contact_property_matches_with"),
        item.get("appliesTo", "branch_entry"),
    )
    if trigger not in BRANCH_TRIGGERS:
        raise InvalidInput.field(f"{where}.triggerType", f"must be one of {', '.join(BRANCH_TRIGGERS)}")
    if applies not in APPLIES_TO:
        raise InvalidInput.field(f"{where}.appliesTo", f"must be one of {', '.join(APPLIES_TO)}")
    branch = {
        "branchId": check_text(item.get("branchId"), f"{where}.branchId", 100)
        or f"branch_{secrets.token_hex(2)}",
        "label": check_text(item.get("label"), f"{where}.label", 200),
        "triggerType": trigger,
        "appliesTo": applies,
        "filterCriteria": check_filter(item.get("filterCriteria"), f"{where}.filterCriteria"),
    }
    for key in ("nextStepId", "mergeStepId"):
        if item.get(key) is not None:
            branch[key] = check_text(item[key], f"{where}.{key}", 100)
    return branch


def successors(step: dict) -> list[str]:
    """The steps this step can lead to."""
    found = [step["nextStepId"]] if step.get("nextStepId") else []
    for branch in step.get("branches") or ():
        found += [branch[k] for k in ("nextStepId", "mergeStepId") if branch.get(k)]
    return found


def _check_graph(steps: list[dict]) -> None:
    by_id = {s["stepId"]: s for s in steps}
    place = {s["stepId"]: i for i, s in enumerate(steps)}
    for step in steps:
        for target in successors(step):
            if target not in by_id:
                raise _bad_sequence(
                    f"Step {step['stepId']} leads to unknown step {target}",
                    place[step["stepId"]],
                    f"leads to a step that does not exist ({target})",
                )
            if by_id[target]["type"] == "email" and step["type"] != "wait":
                raise _bad_sequence(
                    f"Email step {target} must directly follow a wait step", place[target], AFTER_WAIT
                )
    if steps and steps[0]["type"] == "email":
        raise _bad_sequence("An automation must start with a wait step before its first email", 0, AFTER_WAIT)
    _no_cycle(steps[0]["stepId"] if steps else None, by_id, place)
    if not any(s["type"] == "branch" for s in steps):
        _alternates(steps[0]["stepId"] if steps else None, by_id, place)
    if sum(1 for s in steps if s["type"] == "email") > MAX_EMAILS:
        raise InvalidInput.field("steps", f"at most {MAX_EMAILS} email steps")


def _no_cycle(start: str | None, by_id: dict, place: dict[str, int]) -> None:
    state: dict[str, int] = {}

    def visit(step_id: str) -> None:
        if state.get(step_id) == 1:
            raise _bad_sequence(
                f"The steps loop back to {step_id}", place[step_id], "the steps loop back to this step"
            )
        if state.get(step_id) == 2:
            return
        state[step_id] = 1
        for target in successors(by_id[step_id]):
            visit(target)
        state[step_id] = 2

    if start:
        visit(start)


ALTERNATE = "Steps must alternate wait then email, starting with a wait and ending with an email"
OUT_OF_TURN = {"wait": AFTER_WAIT, "email": "a wait must be followed by an email step"}


def _alternates(start: str | None, by_id: dict, place: dict[str, int]) -> None:
    path, current = [], start
    while current:
        path.append(current)
        current = by_id[current].get("nextStepId")
    if len(path) != len(by_id):
        lost = next(i for step_id, i in place.items() if step_id not in path)
        raise _bad_sequence(
            "Every step must be on the path from the first step",
            lost,
            "cannot be reached from the first step",
        )
    for turn, step_id in enumerate(path):
        expected = ("wait", "email")[turn % 2]
        if by_id[step_id]["type"] != expected:
            raise _bad_sequence(
                ALTERNATE, place[step_id if expected == "wait" else path[turn - 1]], OUT_OF_TURN[expected]
            )
    if path and by_id[path[-1]]["type"] != "email":
        raise _bad_sequence(ALTERNATE, place[path[-1]], "a wait must be followed by an email step")


def delay_of(step: dict) -> timedelta:
    delay = step.get("delay") or {"value": 0, "unit": "minutes"}
    return timedelta(seconds=delay["value"] * UNITS[delay["unit"]])


# --- filterCriteria evaluated in Python (entry filters and branches) ---------------------------------


def facts(contact: dict, event: dict | None) -> dict[str, Any]:
    """Field → value of a stored contact row (and the entering event) for filter evaluation."""
    custom = dict(contact.get("custom_fields") or {})
    found = {
        **custom,
        **{f"customFields.{k}": v for k, v in custom.items()},
        "email": contact.get("email"),
        "firstName": contact.get("first_name"),
        "lastName": contact.get("last_name"),
        "userId": contact.get("user_id"),
        "mobile": contact.get("mobile"),
        "createdAt": contact.get("created_at"),
        "updatedAt": contact.get("updated_at"),
    }
    if event:
        found["event.name"] = event.get("name")
        found.update({f"event.properties.{k}": v for k, v in (event.get("properties") or {}).items()})
    return found


def matches(criteria: dict | None, values: dict[str, Any]) -> bool:
    """Whether the facts satisfy the criteria (no criteria: always)."""
    if not criteria:
        return True
    results = (_condition(g, values.get(g["field"])) for g in criteria["groups"])
    return any(results) if criteria["logicalOperator"] == "OR" else all(results)


def _condition(group: dict, actual: Any) -> bool:
    op, kind, wanted = group["operator"], group["fieldType"], group["value"]
    if op in ("is_empty", "is_not_empty"):
        empty = actual is None or actual == ""
        return empty if op == "is_empty" else not empty
    if actual is None:
        return op in ("not_equals", "not_contains")
    try:
        return _compare(kind, op, actual, wanted)
    except (TypeError, ValueError, InvalidInput):
        return op in ("not_equals", "not_contains")


def _compare(kind: str, op: str, actual: Any, wanted: Any) -> bool:
    if kind == "string":
        a, w = str(actual), str(wanted)
        return {
            "equals": a == w,
            "not_equals": a != w,
            "contains": w in a,
            "not_contains": w not in a,
            "starts_with": a.startswith(w),
            "ends_with": a.endswith(w),
        }[op]
    if kind == "boolean":
        flag = actual if isinstance(actual, bool) else str(actual).lower() == "true"
        return (flag == wanted) if op == "equals" else (flag != wanted)
    if kind == "number":
        number = float(actual)
        if op == "between":
            return float(wanted[0]) <= number <= float(wanted[1])
        limit = float(wanted)
        return {
            "equals": number == limit,
            "not_equals": number != limit,
            "greater_than": number > limit,
            "less_than": number < limit,
        }[op]
    return _date(op, actual, wanted)


def _date(op: str, actual: Any, wanted: Any) -> bool:
    moment = actual if not isinstance(actual, str) else date_interval(actual)[0]
    if op == "between":
        return date_interval(wanted[0])[0] <= moment < date_interval(wanted[1])[1]
    start, end = date_interval(wanted)
    inside = start <= moment < end
    return {"equals": inside, "not_equals": not inside, "before": moment < start, "after": moment >= end}[op]
