"""Segment membership computed in SQL, on SQLite and PostgreSQL: every operator of every type.

Each case names contacts that must match and contacts that must not; the criteria is run through
store/segments.py against real rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.segments import validate_criteria
from sendhouse.services import projects as project_service
from sendhouse.store import segments as store
from sendhouse.store.schema.audience import contact_lists, contacts

T0 = datetime(2024, 1, 1, tzinfo=UTC)

PEOPLE = {
    "ann": {
        "first_name": "Ann",
        "last_name": "Lee",
        "user_id": "u-1",
        "mobile": "+15550001",
        "created_at": datetime(2024, 3, 5, 10, 0, tzinfo=UTC),
        "custom_fields": {"plan": "Pro_Annual", "age": 34, "vip": True, "signup": "2024-03-05T10:00:00Z"},
    },
    "bob": {
        "first_name": "bob",
        "last_name": None,
        "user_id": None,
        "mobile": None,
        "created_at": datetime(2024, 3, 6, 0, 0, tzinfo=UTC),
        "custom_fields": {"plan": "free", "age": 19.5, "vip": False, "signup": "2024-03-06"},
    },
    "cat": {
        "first_name": "",
        "last_name": "Cat%Smith",
        "user_id": "u-3",
        "mobile": None,
        "created_at": datetime(2024, 4, 1, 12, 0, tzinfo=UTC),
        "custom_fields": {"plan": "100% pro", "age": "34", "vip": "true", "signup": "not a date"},
    },
    "dan": {
        "first_name": "Dan",
        "last_name": "Ng",
        "user_id": None,
        "mobile": None,
        "created_at": datetime(2023, 12, 31, 23, 59, tzinfo=UTC),
        "custom_fields": {"signup": "2024-03-05T23:30:00-02:00", "age": None},
    },
}


async def make_contacts(db, project_id: str, people: dict[str, dict]) -> dict[str, str]:
    """Insert contacts straight into the table; return {name: contact id}."""
    made = {}
    async with db.write() as conn:
        for name, spec in people.items():
            row = {
                "id": ids.new_id(),
                "project_id": project_id,
                "email": f"{name}@example.com",
                "updated_at": spec.get("created_at", T0),
                "custom_fields": {},
                **spec,
            }
            row.setdefault("created_at", T0)
            await conn.execute(contacts.insert().values(**row))
            made[name] = row["id"]
    return made


@pytest.fixture
async def people(container):
    project = await project_service.create_project(container.db, name="seg")
    made = await make_contacts(container.db, project["id"], PEOPLE)
    return container.db, project["id"], {v: k for k, v in made.items()}


async def matching(people, *groups, logical="AND") -> set[str]:
    db, project_id, names = people
    criteria = validate_criteria({"logicalOperator": logical, "groups": list(groups)})
    async with db.read() as conn:
        condition = store.criteria_condition(criteria, dialect=conn.dialect.name)
        ids_found = (await conn.execute(store.members_select(project_id, condition))).scalars()
        return {names[i] for i in ids_found}


def g(field, field_type, operator, value=None):
    return {"field": field, "fieldType": field_type, "operator": operator, "value": value}


STRING_CASES = [
    (g("firstName", "string", "equals", "BOB"), {"bob"}),
    (g("firstName", "string", "not_equals", "bob"), {"ann", "cat", "dan"}),
    (g("lastName", "string", "contains", "%"), {"cat"}),
    (g("lastName", "string", "not_contains", "e"), {"bob", "cat", "dan"}),
    (g("email", "string", "starts_with", "A"), {"ann"}),
    (g("email", "string", "ends_with", "@EXAMPLE.com"), {"ann", "bob", "cat", "dan"}),
    (g("firstName", "string", "is_empty"), {"cat"}),
    (g("firstName", "string", "is_not_empty"), {"ann", "bob", "dan"}),
    (g("userId", "string", "is_empty"), {"bob", "dan"}),
    (g("mobile", "string", "is_not_empty"), {"ann"}),
    (g("plan", "string", "contains", "o_a"), {"ann"}),
    (g("plan", "string", "starts_with", "100%"), {"cat"}),
    (g("plan", "string", "ends_with", "PRO"), {"cat"}),
    (g("plan", "string", "equals", "FREE"), {"bob"}),
    (g("plan", "string", "not_equals", "free"), {"ann", "cat", "dan"}),
    (g("plan", "string", "is_empty"), {"dan"}),
    (g("plan", "string", "not_contains", "pro"), {"bob", "dan"}),
]

NUMBER_CASES = [
    (g("age", "number", "equals", 34), {"ann"}),
    (g("age", "number", "not_equals", 34), {"bob", "cat", "dan"}),
    (g("age", "number", "greater_than", 19.5), {"ann"}),
    (g("age", "number", "less_than", 34), {"bob"}),
    (g("age", "number", "between", [19.5, 34]), {"ann", "bob"}),
    (g("age", "number", "between", [20, 30]), set()),
]

BOOLEAN_CASES = [
    (g("vip", "boolean", "equals", True), {"ann", "cat"}),
    (g("vip", "boolean", "equals", False), {"bob"}),
    (g("vip", "boolean", "not_equals", True), {"bob", "dan"}),
    (g("vip", "boolean", "not_equals", False), {"ann", "cat", "dan"}),
]

DATE_CASES = [
    (g("createdAt", "date", "equals", "2024-03-05"), {"ann"}),
    (g("createdAt", "date", "equals", "2024-03-05T10:00:00Z"), {"ann"}),
    (g("createdAt", "date", "not_equals", "2024-03-05"), {"bob", "cat", "dan"}),
    (g("createdAt", "date", "before", "2024-03-05"), {"dan"}),
    (g("createdAt", "date", "after", "2024-03-05"), {"bob", "cat"}),
    (g("createdAt", "date", "between", ["2024-03-05", "2024-03-06"]), {"ann", "bob"}),
    (g("createdAt", "date", "is_not_empty"), {"ann", "bob", "cat", "dan"}),
    (g("updatedAt", "date", "is_empty"), set()),
    (g("signup", "date", "equals", "2024-03-05"), {"ann"}),
    (g("signup", "date", "equals", "2024-03-06"), {"bob", "dan"}),
    (g("signup", "date", "not_equals", "2024-03-06"), {"ann", "cat"}),
    (g("signup", "date", "before", "2024-03-05T10:00:00.001Z"), {"ann"}),
    (g("signup", "date", "after", "2024-03-05T10:00:00Z"), {"bob", "dan"}),
    (g("signup", "date", "after", "2024-03-06T02:00:00+02:00"), {"dan"}),
    (g("signup", "date", "between", ["2024-03-01", "2024-03-05"]), {"ann"}),
    (g("signup", "date", "is_empty"), {"cat"}),
    (g("signup", "date", "is_not_empty"), {"ann", "bob", "dan"}),
]


@pytest.mark.parametrize(
    "group,expected",
    STRING_CASES + NUMBER_CASES + BOOLEAN_CASES + DATE_CASES,
    ids=lambda v: f"{v['field']}-{v['operator']}-{v['value']}" if isinstance(v, dict) else None,
)
async def test_operator(people, group, expected):
    assert await matching(people, group) == expected


async def test_and_or(people):
    first = g("age", "number", "greater_than", 18)
    second = g("vip", "boolean", "equals", True)
    assert await matching(people, first, second, logical="AND") == {"ann"}
    assert await matching(people, first, second, logical="OR") == {"ann", "bob", "cat"}


async def test_negated_criteria_is_the_complement(people):
    db, project_id, names = people
    criteria = validate_criteria({"groups": [g("lastName", "string", "contains", "e")]})
    async with db.read() as conn:
        condition = store.criteria_condition(criteria, dialect=conn.dialect.name)
        outside = (await conn.execute(store.members_select(project_id, sa.not_(condition)))).scalars()
        assert {names[i] for i in outside} == {"bob", "cat", "dan"}


async def add_segment(db, project_id, criteria, parent_id=None, deleted=False) -> str:
    segment_id = ids.new_id()
    async with db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=segment_id,
                project_id=project_id,
                name=segment_id,
                type="segment",
                parent_id=parent_id,
                filter_criteria=validate_criteria(criteria),
                created_at=T0,
                updated_at=T0,
                deleted_at=T0 if deleted else None,
            )
        )
    return segment_id


async def test_sub_segment_is_parent_and_own_criteria(people):
    db, project_id, names = people
    parent = await add_segment(db, project_id, {"groups": [g("age", "number", "greater_than", 18)]})
    child = await add_segment(db, project_id, {"groups": [g("plan", "string", "contains", "pro")]}, parent)
    async with db.read() as conn:
        assert {names[i] for i in await member_ids(conn, project_id, child)} == {"ann"}
        assert await count_members(conn, project_id, parent) == 2
        assert await count_members(conn, project_id, "nope") == 0


async def member_ids(conn, project_id: str, segment_id: str) -> list[str]:
    condition = await store.segment_condition(conn, project_id, segment_id)
    return list((await conn.execute(store.members_select(project_id, condition))).scalars())


async def count_members(conn, project_id: str, segment_id: str) -> int:
    return await store.count_matching(
        conn, project_id, await store.segment_condition(conn, project_id, segment_id)
    )


async def segment_ids_containing(conn, project_id: str, contact_id: str) -> list[str]:
    return (await store.segment_ids_for_contacts(conn, project_id, [contact_id]))[contact_id]


async def test_segment_ids_containing(people):
    db, project_id, names = people
    by_name = {v: k for k, v in names.items()}
    vip = await add_segment(db, project_id, {"groups": [g("vip", "boolean", "equals", True)]})
    young = await add_segment(db, project_id, {"groups": [g("age", "number", "less_than", 20)]})
    await add_segment(db, project_id, {"groups": [g("vip", "boolean", "equals", True)]}, deleted=True)
    async with db.read() as conn:
        assert await segment_ids_containing(conn, project_id, by_name["ann"]) == [vip]
        assert await segment_ids_containing(conn, project_id, by_name["bob"]) == [young]
        assert await segment_ids_containing(conn, project_id, by_name["dan"]) == []
        other = await project_service.create_project(db, name="other")
        assert await segment_ids_containing(conn, other["id"], by_name["ann"]) == []


async def test_leap_days_and_impossible_dates(container):
    project = await project_service.create_project(container.db, name="leap")
    people = {
        "leap": {"custom_fields": {"d": "2024-02-29"}},
        "bad": {"custom_fields": {"d": "2023-02-30T10:00:00Z"}},
        "num": {"custom_fields": {"d": 20240229}},
    }
    made = await make_contacts(container.db, project["id"], people)
    names = {v: k for k, v in made.items()}
    both = (container.db, project["id"], names)
    assert await matching(both, g("d", "date", "equals", "2024-02-29")) == {"leap"}
    assert await matching(both, g("d", "date", "is_empty")) == {"bad", "num"}
