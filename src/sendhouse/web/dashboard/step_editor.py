"""The automation step editor: the form's fields ↔ AutoSend's `steps` (reference §2.4). Pure.

The editor is a vertical list of steps. Step i's fields are named `s{i}_<part>`: kind (wait, email
or branch), id (its stepId, made here when the step is added), then (where the run goes next: ""
the following step of the list, "end", or another step's id); a wait has value and unit; an email
has templateId, subject, previewText, the sender and reply-to fields, htmlTemplate and checkExit;
a branch has `s{i}_branches` branches, each with `s{i}_b{j}_<part>`: id, label, one condition
(field, fieldType, operator, value: the segment builder's), next, merge, appliesTo and `extra`
(the JSON of further conditions set through the API, kept as they are). `step_count` says how many
steps the form holds.

A row is what the form shows for one step (strings, as typed); `steps_of_rows` turns the rows into
the JSON the API takes, with every nextStepId written out, and marks the steps a branch leads to
(until the paths meet again) as inside that branch (parentBranchStepId / parentBranchId).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.datastructures import FormData

from sendhouse.domain.automations import MAX_BRANCHES, MAX_STEPS
from sendhouse.web.dashboard.common import text
from sendhouse.web.dashboard.segment_pages import condition_value, shown_value

KINDS = ("wait", "email", "branch")
UNITS = ("minutes", "hours", "days")
EMAIL_PARTS = (
    "templateId",
    "subject",
    "previewText",
    "senderEmail",
    "senderName",
    "senderReplyToEmail",
    "senderReplyToName",
    "htmlTemplate",
)
BRANCH_PARTS = (
    "id",
    "label",
    "field",
    "fieldType",
    "operator",
    "value",
    "next",
    "merge",
    "appliesTo",
    "extra",
)
END = "end"


# --- new rows --------------------------------------------------------------------------------------


def _new_id(prefix: str, taken: set[str]) -> str:
    found = f"{prefix}_{secrets.token_hex(2)}"
    while found in taken:
        found = f"{prefix}_{secrets.token_hex(2)}"
    return found


def new_branch() -> dict[str, str]:
    """An empty branch: no condition (it matches every contact), going on to the following step."""
    return {**dict.fromkeys(BRANCH_PARTS, ""), "id": _new_id("branch", set()), "operator": "equals"}


def new_row(kind: str, rows: list[dict]) -> dict[str, Any]:
    """A new step of that kind with its own stepId: wait 1 day, an email without a template, or a
    branch with one branch."""
    row: dict[str, Any] = {"kind": kind, "id": _new_id(kind, {r["id"] for r in rows}), "then": ""}
    if kind == "wait":
        row.update(value="1", unit="days", checkExit=True)
    elif kind == "email":
        row.update(dict.fromkeys(EMAIL_PARTS, ""), checkExit=True)
    else:
        row["branches"] = [new_branch()]
    return row


# --- the form's fields → rows -----------------------------------------------------------------------


def _count(form: FormData, name: str, limit: int) -> int:
    try:
        return max(0, min(int(text(form, name) or 0), limit))
    except ValueError:
        return 0


def rows_of_form(form: FormData) -> list[dict]:
    """The steps as posted by the editor (`step_count` of them)."""
    return [_row_of_form(form, f"s{i}_") for i in range(_count(form, "step_count", MAX_STEPS))]


def _row_of_form(form: FormData, key: str) -> dict[str, Any]:
    kind = text(form, key + "kind")
    row: dict[str, Any] = {
        "kind": kind if kind in KINDS else "wait",
        "id": text(form, key + "id"),
        "then": text(form, key + "then"),
    }
    if row["kind"] == "branch":
        count = _count(form, key + "branches", MAX_BRANCHES)
        row["branches"] = [{p: text(form, f"{key}b{j}_{p}") for p in BRANCH_PARTS} for j in range(count)]
        return row
    row["checkExit"] = form.get(key + "checkExit") is not None
    parts = ("value", "unit") if row["kind"] == "wait" else EMAIL_PARTS
    row.update({p: text(form, key + p) for p in parts})
    return row


# --- steps (the API's JSON) → rows ------------------------------------------------------------------


def rows_of_steps(steps: Any, template_subjects: dict[str, str] | None = None) -> list[dict]:
    """The editor's rows for stored or pasted steps (anything that is not a step is left out). An
    automation as the API shows it gives an email step its template's subject when it has none;
    `template_subjects` ({templateId: subject}) leaves that subject out again, so that saving does
    not pin it to the step."""
    steps = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    rows: list[dict] = []
    for i, step in enumerate(steps):
        following = steps[i + 1].get("stepId") if i + 1 < len(steps) else None
        rows.append(_row_of_step(step, following, rows))
        if rows[-1]["kind"] == "email" and rows[-1]["subject"] == (template_subjects or {}).get(
            rows[-1]["templateId"]
        ):
            rows[-1]["subject"] = ""
    return rows


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _choice(target: Any, following: Any) -> str:
    """A stored link as the form's choice: "" (the following step), "end" or a step's id."""
    if target == following or (not target and following is None):
        return ""
    return str(target) if target else END


def _row_of_step(step: dict, following: Any, rows: list[dict]) -> dict[str, Any]:
    kind = str(step["type"]) if step.get("type") in KINDS else "wait"
    row = new_row(kind, rows)
    if isinstance(step.get("stepId"), str) and step["stepId"]:
        row["id"] = step["stepId"]
    row["then"] = _choice(step.get("nextStepId"), following)
    if kind != "branch":
        row["checkExit"] = step.get("checkExitCriteria") is not False
    if kind == "wait":
        delay = _dict(step.get("delay"))
        unit = "minutes" if delay.get("unit") == "mins" else str(delay.get("unit") or "minutes")
        row.update(value=shown_value(delay.get("value")), unit=unit)
    elif kind == "email":
        email = _dict(step.get("email"))
        row.update({p: shown_value(email.get(p)) for p in EMAIL_PARTS})
    else:
        branches = step["branches"] if isinstance(step.get("branches"), list) else []
        row["branches"] = [_branch_row(b, following) for b in branches if isinstance(b, dict)]
    return row


def _branch_row(branch: dict, following: Any) -> dict[str, str]:
    criteria = _dict(branch.get("filterCriteria"))
    groups = [g for g in criteria.get("groups") or criteria.get("conditions") or [] if isinstance(g, dict)]
    first = groups[0] if groups else {}
    extra = {"logicalOperator": criteria.get("logicalOperator", "AND"), "groups": groups[1:]}
    return {
        "id": str(branch.get("branchId") or "") or _new_id("branch", set()),
        "label": str(branch.get("label") or ""),
        "field": str(first.get("field") or ""),
        "fieldType": str(first.get("fieldType") or ""),
        "operator": str(first.get("operator") or "equals"),
        "value": shown_value(first.get("value")),
        "next": _choice(branch.get("nextStepId"), following),
        "merge": str(branch.get("mergeStepId") or ""),
        "appliesTo": str(branch.get("appliesTo") or "branch_entry"),
        "extra": json.dumps(extra) if extra["groups"] else "",
    }


# --- rows → steps -----------------------------------------------------------------------------------


def steps_of_rows(rows: list[dict], known: dict[str, str]) -> list[dict]:
    """The steps as the API takes them. `known` gives the type of every known field (a known
    field's own type wins over the one chosen in the form, as in the segment builder)."""
    ids = [row["id"] for row in rows]
    steps = [_step(row, ids[i + 1] if i + 1 < len(ids) else None, known) for i, row in enumerate(rows)]
    _mark_branch_members(steps)
    return steps


def _target(choice: str, following: str | None) -> str | None:
    if choice == END:
        return None
    return choice or following


def _int(raw: str) -> Any:
    """A typed number as an int; anything else as typed, for the service to refuse in its words."""
    try:
        return int(raw)
    except ValueError:
        return raw or None


def _step(row: dict, following: str | None, known: dict[str, str]) -> dict[str, Any]:
    step: dict[str, Any] = {"type": row["kind"]}
    if row["id"]:
        step["stepId"] = row["id"]
    if _target(row["then"], following):
        step["nextStepId"] = _target(row["then"], following)
    if row["kind"] == "branch":
        step["branches"] = [_branch(b, following, known) for b in row["branches"]]
        return step
    step["checkExitCriteria"] = bool(row.get("checkExit", True))
    if row["kind"] == "wait":
        step["delay"] = {"value": _int(row["value"]), "unit": row["unit"] or "minutes"}
    else:
        step["email"] = {p: row[p] for p in EMAIL_PARTS if row.get(p)}
    return step


def _branch(row: dict, following: str | None, known: dict[str, str]) -> dict[str, Any]:
    branch: dict[str, Any] = {
        "branchId": row["id"] or None,
        "label": row["label"] or None,
        "triggerType": "event_property"
        if row["field"].startswith("event.")
        else "contact_property_matches_with",
        "appliesTo": row["appliesTo"] or "branch_entry",
        "nextStepId": _target(row["next"], following),
        "mergeStepId": row["merge"] or None,
    }
    return {**{k: v for k, v in branch.items() if v is not None}, "filterCriteria": _criteria(row, known)}


def _extra(raw: str) -> dict:
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _criteria(row: dict, known: dict[str, str]) -> dict | None:
    """The branch's condition (and the further ones kept from the API), or None: every contact."""
    extra = _extra(row.get("extra") or "")
    groups = list(extra.get("groups") or []) if isinstance(extra.get("groups"), list) else []
    if row["field"]:
        kind = known.get(row["field"]) or row["fieldType"] or "string"
        value = condition_value(kind, row["operator"], row["value"])
        groups.insert(
            0, {"field": row["field"], "fieldType": kind, "operator": row["operator"], "value": value}
        )
    return {"logicalOperator": extra.get("logicalOperator", "AND"), "groups": groups} if groups else None


def _mark_branch_members(steps: list[dict]) -> None:
    """Each step a branch leads to is inside that branch, up to where the paths meet again (a merge
    step, or where the branch step goes when no branch matches), the next branch step or the end,
    unless an earlier branch already took it."""
    by_id = {s["stepId"]: s for s in steps if s.get("stepId")}
    for step in (s for s in steps if s["type"] == "branch" and s.get("stepId")):
        meet = {step.get("nextStepId")} | {b.get("mergeStepId") for b in step["branches"]}
        for branch in (b for b in step["branches"] if b.get("branchId")):
            current = branch.get("nextStepId")
            while current in by_id and current not in meet:
                member = by_id[current]
                if member["type"] == "branch" or "parentBranchStepId" in member:
                    break
                member.update(parentBranchStepId=step["stepId"], parentBranchId=branch["branchId"])
                current = member.get("nextStepId")


# --- the editor's buttons ---------------------------------------------------------------------------


def change(rows: list[dict], op: str, new_kind: str) -> list[dict]:
    """The rows after one of the editor's buttons: `add` (a step of `new_kind` at the end),
    `remove:i`, `up:i`, `down:i`, `branch:i` (one more branch) or `unbranch:i:j`."""
    name, *where = op.split(":")
    try:
        places = [int(w) for w in where]
    except ValueError:
        return rows
    rows = list(rows)
    if name == "add" and new_kind in KINDS and len(rows) < MAX_STEPS:
        rows.append(new_row(new_kind, rows))
    elif len(places) >= 1 and 0 <= places[0] < len(rows):
        _change_step(rows, name, places)
    return rows


def _change_step(rows: list[dict], name: str, places: list[int]) -> None:
    i = places[0]
    if name == "remove":
        _forget(rows, rows.pop(i)["id"])
    elif name in ("up", "down"):
        other = i - 1 if name == "up" else i + 1
        if 0 <= other < len(rows):
            rows[i], rows[other] = rows[other], rows[i]
    elif rows[i]["kind"] == "branch":
        branches = rows[i]["branches"] = list(rows[i]["branches"])
        if name == "branch" and len(branches) < MAX_BRANCHES:
            branches.append(new_branch())
        elif name == "unbranch" and len(places) == 2 and 0 <= places[1] < len(branches):
            branches.pop(places[1])


def _forget(rows: list[dict], step_id: str) -> None:
    """Links to a removed step go back to their default (the following step; no merge step)."""
    for row in rows:
        if row["then"] == step_id:
            row["then"] = ""
        for branch in row.get("branches") or ():
            for key in ("next", "merge"):
                if branch[key] == step_id:
                    branch[key] = ""


def titles(rows: list[dict], template_names: dict[str, str]) -> dict[str, str]:
    """Each step's id → how a "then" choice names it: "Step 2: email “Welcome”"."""
    return {row["id"]: f"Step {i + 1}: {_summary(row, template_names)}" for i, row in enumerate(rows)}


def _summary(row: dict, template_names: dict[str, str]) -> str:
    if row["kind"] == "wait":
        unit = row["unit"].removesuffix("s") if row["value"] == "1" else row["unit"]
        return f"wait {row['value']} {unit}"
    if row["kind"] == "email":
        name = template_names.get(row["templateId"]) or row["subject"]
        return f"email “{name}”" if name else "email"
    return f"branch ({len(row['branches'])})"
