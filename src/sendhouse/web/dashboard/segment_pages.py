"""The segment builder: conditions whose operators fit the field's type (a known field brings its
own type), a live count, and editing a segment's name and conditions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from sendhouse.domain.segments import BUILTIN_FIELDS, MAX_CONDITIONS, OPERATORS
from sendhouse.domain.wording import OPERATOR_WORDS
from sendhouse.errors import AppError, InvalidInput
from sendhouse.services import dashboard as stats
from sendhouse.services import lists as list_service
from sendhouse.services import properties as property_service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
CONDITION_ROWS = 5  # rows offered at first (the page script shows them one by one)
# Errors about the conditions as a whole point at the first condition's field.
FORM_NAMES = {
    "filterCriteria": "field_0",
    "filterCriteria.groups": "field_0",
    "filterCriteria.logicalOperator": "logicalOperator",
}
_GROUP = re.compile(r"^filterCriteria\.groups\[(\d+)\]")


async def field_types(ctx: Ctx) -> dict[str, str]:
    """Every field a condition can test, with its type: built-in fields, then the project's properties."""
    custom = {r["name"]: r["type"] for r in await property_service.list_property_rows(ctx.db, ctx.project_id)}
    return {**BUILTIN_FIELDS, **custom}


async def builder(ctx: Ctx, conditions: int = 0) -> dict:
    """The builder's choices: fields with their types, operators in words with the types they fit."""
    operators = [
        {"name": op, "words": words, "types": [t for t, ops in OPERATORS.items() if op in ops]}
        for op, words in OPERATOR_WORDS.items()
    ]
    return {
        "fields": await field_types(ctx),
        "types": list(OPERATORS),
        "operators": operators,
        "rows": range(max(CONDITION_ROWS, conditions + 1)),
    }


def _typed(field_type: str, raw: str) -> Any:
    """A form value as the JSON type the API would receive."""
    if field_type == "number":
        for kind in (int, float):
            try:
                return kind(raw)
            except ValueError:
                pass
    if field_type == "boolean" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


def condition_value(field_type: str, operator: str, raw: str) -> Any:
    if operator == "between":
        parts = [p.strip() for p in raw.replace("..", ",").split(",")]
        return [_typed(field_type, p) for p in parts]
    return _typed(field_type, raw)


def criteria_of(form: FormData, known: dict[str, str]) -> dict:
    """filterCriteria from the builder's rows (rows without a field are ignored); a known field's
    own type wins over the type chosen in the row."""
    groups = []
    for i in range(MAX_CONDITIONS):
        name = text(form, f"field_{i}")
        if not name:
            continue
        field_type = known.get(name) or text(form, f"fieldType_{i}")
        operator = text(form, f"operator_{i}")
        groups.append(
            {
                "field": name,
                "fieldType": field_type,
                "operator": operator,
                "value": condition_value(field_type, operator, text(form, f"value_{i}")),
            }
        )
    return {"logicalOperator": text(form, "logicalOperator") or "AND", "groups": groups}


def by_row(exc: AppError, form: FormData) -> AppError:
    """The error with its conditions numbered as the builder's rows (rows left empty are not sent,
    so the API's third condition may be the form's fourth row)."""
    rows = [i for i in range(MAX_CONDITIONS) if text(form, f"field_{i}")]

    def renumber(found: re.Match) -> str:
        index = int(found[1])
        return f"filterCriteria.groups[{rows[index] if index < len(rows) else index}]"

    if isinstance(exc.details, list):
        exc.details = [
            {**d, "field": _GROUP.sub(renumber, d["field"])}
            if isinstance(d, dict) and isinstance(d.get("field"), str)
            else d
            for d in exc.details
        ]
    return exc


def refused_segment(exc: AppError, form: FormData) -> dict:
    """A refused segment's summary and messages next to the builder's fields."""
    return refused(by_row(exc, form), FORM_NAMES)


def shown_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(shown_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def form_values(segment: dict) -> dict:
    """A segment as the builder's form values."""
    criteria = segment["filterCriteria"] or {"groups": []}
    values = {
        "type": "segment",
        "name": segment["name"],
        "description": segment["description"] or "",
        "logicalOperator": criteria.get("logicalOperator", "AND"),
    }
    for i, group in enumerate(criteria["groups"]):
        values.update(
            {
                f"field_{i}": group["field"],
                f"fieldType_{i}": group["fieldType"],
                f"operator_{i}": group["operator"],
                f"value_{i}": shown_value(group.get("value")),
            }
        )
    return values


@router.post("/segments/count")
async def segment_count(request: Request, ctx: Page, form: Form):
    """The live count under the builder (htmx)."""
    try:
        count, errors = (
            await stats.count_criteria(ctx.db, ctx.project_id, criteria_of(form, await field_types(ctx))),
            [],
        )
    except InvalidInput as exc:
        count, errors = None, problems(by_row(exc, form))
    return render(request, "dashboard/_segment_count.html", ctx, count=count, errors=errors)


@router.get("/lists/{list_id}/edit")
async def edit_segment(request: Request, ctx: Page, list_id: str):
    segment = await list_service.get_list(ctx.db, ctx.project_id, list_id)
    if segment["type"] != "segment":
        return redirect(request, f"/lists/{list_id}")
    groups = len((segment["filterCriteria"] or {}).get("groups", []))
    return render(
        request,
        "dashboard/segment_form.html",
        ctx,
        segment=segment,
        values=form_values(segment),
        **await builder(ctx, groups),
    )


@router.post("/lists/{list_id}/edit")
async def update_segment(request: Request, ctx: Page, form: Form, list_id: str):
    segment = await list_service.get_list(ctx.db, ctx.project_id, list_id)
    known = await field_types(ctx)
    changed = list_service.NewList(
        text(form, "name"), optional(form, "description"), "segment", criteria_of(form, known)
    )
    try:
        saved = await list_service.update_segment(ctx.db, ctx.project_id, list_id, changed)
    except AppError as exc:
        return render(
            request,
            "dashboard/segment_form.html",
            ctx,
            status=400,
            segment=segment,
            values=dict(form),
            **refused_segment(exc, form),
            **await builder(ctx, len((changed.filter_criteria or {}).get("groups") or [])),
        )
    count = saved["contactCount"]
    flash(
        request,
        f"Segment “{saved['name']}” saved: {count:,} contact{'' if count == 1 else 's'} match{'es' if count == 1 else ''} now.",
    )
    return redirect(request, f"/lists/{list_id}")
