"""Column mapping before a CSV import: a preview of the first rows, for every column a proposed
target (a built-in field, an existing contact property, a new property of a guessed type, or
skip) with the reason, and applying the choices (creating the new properties) as the header the
import reads. Reserved names without a built-in field (city, state, zip, country, address…)
are proposed as a property under another name."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from sendhouse.domain.contacts import RESERVED_NAMES
from sendhouse.errors import InvalidInput
from sendhouse.services import imports
from sendhouse.services import properties as property_service

PREVIEW_ROWS = 5
BUILTIN = {
    "email": "email",
    "emailaddress": "email",
    "firstname": "firstName",
    "lastname": "lastName",
    "userid": "userId",
    "mobile": "mobile",
}
RENAMED = {
    "city": "cityName",
    "state": "stateName",
    "country": "countryName",
    "zip": "zipCode",
    "address": "postalAddress",
    "address_line_1": "addressLine1",
    "address_line_2": "addressLine2",
}
SKIP = "skip"


def _key(name: str) -> str:
    return re.sub(r"[\s_-]", "", name).lower()


def guess_type(values: list[str]) -> str:
    """number, boolean or date when every non-blank preview value reads as one, else string."""
    seen = [v.strip() for v in values if v.strip()]
    if seen and all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in seen):
        return "number"
    if seen and all(v.lower() in ("true", "false", "yes", "no") for v in seen):
        return "boolean"
    if seen and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?", v) for v in seen):
        return "date"
    return "string"


def propose(name: str, values: list[str], types: dict[str, str]) -> dict:
    """{target, newName, newType, reason} for one column."""
    by_lower = {p.lower(): p for p in types}
    if _key(name) in BUILTIN:
        return {"target": BUILTIN[_key(name)], "reason": "built-in contact field"}
    if name.strip().lower() in by_lower:
        prop = by_lower[name.strip().lower()]
        return {"target": prop, "reason": f"existing property ({types[prop]})"}
    if not name.strip():
        return {"target": SKIP, "reason": "the column has no name"}
    new = RENAMED.get(name.strip().lower(), name.strip())
    reason = "new property"
    if name.strip().lower() in RESERVED_NAMES:
        reason = f"“{name.strip()}” is a reserved name without a built-in field: kept as the property “{new}”"
    return {"target": "new", "newName": new, "newType": guess_type(values), "reason": reason}


def plan(path: Path, types: dict[str, str]) -> dict:
    """The header, the first rows and a proposal per column of the CSV at `path`."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, rows = imports.csv_rows(handle)
        first = [cells for _line, cells in itertools.islice(rows, PREVIEW_ROWS)]
    columns = []
    for index, name in enumerate(header):
        values = [row[index] if index < len(row) else "" for row in first]
        columns.append({"index": index, "name": name, **propose(name, values, types)})
    return {"header": header, "rows": first, "columns": columns}


async def apply(db, project_id: str, header: list[str], choices: list[dict]) -> tuple[list[str], list[str]]:
    """(the header the import reads, the columns skipped by choice); new properties are created
    first (one that already exists is used as it is)."""
    if len(choices) != len(header):
        raise InvalidInput.field("columns", "the mapping does not match the file's columns; upload it again")
    types = await property_types(db, project_id)
    mapped, skipped = [], []
    for index, (raw, choice) in enumerate(zip(header, choices, strict=True)):
        target = choice.get("target") or SKIP
        if target == "new":
            target = await _new_property(db, project_id, choice, types, index)
        if target == SKIP:
            skipped.append(raw)
            target = f"(skipped) {raw}"
        mapped.append(target)
    return mapped, skipped


async def property_types(db, project_id: str) -> dict[str, str]:
    return {r["name"]: r["type"] for r in await property_service.list_property_rows(db, project_id)}


async def _new_property(db, project_id: str, choice: dict, types: dict[str, str], index: int) -> str:
    name, kind = (choice.get("newName") or "").strip(), choice.get("newType") or "string"
    if name.lower() in {t.lower() for t in types}:
        return name
    try:
        await property_service.create_property(db, project_id, name=name, kind=kind)
    except InvalidInput as exc:
        message = exc.details[0]["message"] if exc.details else exc.message
        raise InvalidInput.field(f"columns[{index}]", f"property “{name}”: {message}") from None
    types[name] = kind
    return name
