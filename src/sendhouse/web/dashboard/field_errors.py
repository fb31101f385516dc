"""Errors pointed at the field they are about. A refused form shows its summary at the top of the
page (common.problems) and, next to each field named by the error, that field's own message in
plain words; the field gets aria-invalid and aria-describedby (the macros of
templates/dashboard/_invalid.html read `field_errors`).

Services name a field by its API path ("customFields.plan", "from.email",
"filterCriteria.groups[1].value"). Most form fields carry the API's name; a property is `cf_<name>`,
a segment condition's parts are `field_<row>`, `fieldType_<row>`, `operator_<row>`, `value_<row>`;
a step of an automation (`steps[2].delay.value`) is about that step of the step editor (`s2`); any
other item of a list (`emails[1]`) is about the list's own field; a form whose names
differ says so (`names`), and names the field an error code without details is about (`codes`, e.g.
a duplicate email is about the email field).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sendhouse.domain import wording
from sendhouse.errors import AppError
from sendhouse.web.dashboard.common import problems

_CUSTOM = re.compile(r"^customFields\.(.+)$")
_CONDITION = re.compile(r"^filterCriteria\.groups\[(\d+)\](?:\.(\w+))?$")
_STEP = re.compile(r"^steps\[(\d+)\]")
_ITEM = re.compile(r"^(\w+)\[\d+\]")
NO_NAMES: Mapping[str, str] = {}


def form_field(path: str, names: Mapping[str, str] = NO_NAMES) -> str:
    """The form field name for an API field path."""
    if path in names:
        return names[path]
    custom = _CUSTOM.match(path)
    if custom:
        return f"cf_{custom[1]}"
    condition = _CONDITION.match(path)
    if condition:
        return f"{condition[2] or 'field'}_{condition[1]}"
    step = _STEP.match(path)
    if step:
        return f"s{step[1]}"
    item = _ITEM.match(path)
    return item[1] if item else path


def field_errors(
    exc: AppError, names: Mapping[str, str] = NO_NAMES, codes: Mapping[str, str] = NO_NAMES
) -> dict[str, list[str]]:
    """{form field name: [its messages in plain words]} for the error's details (and its code)."""
    found: dict[str, list[str]] = {}
    for detail in exc.details if isinstance(exc.details, list) else []:
        if isinstance(detail, dict) and detail.get("field"):
            path, message = str(detail["field"]), str(detail.get("message") or "")
            found.setdefault(form_field(path, names), []).append(wording.human_line(path, message))
    if exc.code in codes:
        found.setdefault(codes[exc.code], []).append(wording.rephrase(exc.message))
    return found


def refused(exc: AppError, names: Mapping[str, str] = NO_NAMES, codes: Mapping[str, str] = NO_NAMES) -> dict:
    """What a page shows for a refused form: the summary at the top (`errors`) and each field's own
    message (`field_errors`)."""
    return {"errors": problems(exc), "field_errors": field_errors(exc, names, codes)}
