"""Generated JSON bodies (huge numbers, 1e400, lone surrogates, deep nesting, long strings, wrong
types) at every POST/PUT/PATCH route of the API on both databases: never a 5xx, and a refused
request (any 4xx) changes no row of any table. Bounded: MAX_EXAMPLES requests per database."""

from __future__ import annotations

import json
import os
import re

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendhouse.store.schema import metadata
from tests.support.resources import create_all

MAX_EXAMPLES = int(os.environ.get("SENDHOUSE_FUZZ_EXAMPLES", "60"))
INFINITE = "\x1eINF\x1e"  # replaced by the literal 1e400 once serialized
VOLATILE_COLUMNS = {"last_used_at"}  # stamped by authentication itself, refused or not
FIELDS = [
    "email",
    "name",
    "firstName",
    "customFields",
    "subject",
    "htmlTemplate",
    "emailTemplate",
    "templateName",
    "filterCriteria",
    "groups",
    "value",
    "fieldType",
    "operator",
    "to",
    "from",
    "events",
    "url",
    "toLists",
    "emails",
    "contactListId",
    "fieldName",
    "type",
    "sendMode",
    "dailyBatchSize",
    "data",
    "metadata",
    "isActive",
    "html",
    "text",
    "page",
    "limit",
    "reason",
    "domain",
    "userId",
    "previewText",
    "contacts",
]

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(INFINITE),
    st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    st.sampled_from(
        ["x" * 70_000, "<a href='https://example.com/Москва'>m</a>", "a@example.com", "GLOBAL_CONTACT_LIST"]
    ),
)
_nasty = st.one_of(
    st.integers(min_value=2**63, max_value=10**30),
    st.integers(min_value=-(10**30), max_value=-(2**63) - 1),
    st.just(INFINITE),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2).map(
        lambda s: "a" + s
    ),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), _values, max_size=6),
    _values,
    st.integers(60, 200).map(lambda depth: _nest(depth)),
)
SEGMENT = {
    "logicalOperator": "AND",
    "groups": [{"field": "age", "fieldType": "number", "operator": "greater_than", "value": 3}],
}
BASES = {  # a valid body per route family; a generated value replaces one of its leaves
    "/v1/contacts": {
        "email": "fuzz@example.com",
        "firstName": "F",
        "customFields": {"plan": "pro", "age": 3},
    },
    "/v1/contact-lists": {"name": "Fuzz", "type": "segment", "filterCriteria": SEGMENT},
    "/v1/campaigns": {
        "name": "C",
        "subject": "S",
        "htmlTemplate": "<p>x</p>",
        "from": {"email": "a@example.com"},
    },
    "/v1/templates": {"templateName": "T", "subject": "S", "emailTemplate": "<p>x</p>"},
    "/v1/webhooks": {
        "url": "https://hooks.example.com/y",
        "events": ["contact.created"],
        "metadata": {"a": 1},
    },
    "/v1/mails": {
        "to": {"email": "a@example.com"},
        "from": {"email": "b@example.com"},
        "subject": "S",
        "html": "<p>x</p>",
        "dynamicData": {"n": 1},
    },
    "/v1/senders": {"email": "s@example.com", "name": "S"},
    "/v1/suppression-groups": {"name": "G", "emails": ["a@example.com"], "reason": "manual"},
    "/v1/contact-properties": {"fieldName": "score", "fieldType": "number"},
    "/v1/custom-fields": {"fieldName": "score2", "fieldType": "number"},
    "/v1/domains": {"domain": "fuzz-example.com"},
}


def _leaves_of(value, path=()):
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in _leaves_of(child, (*path, key))] or [path]
    if isinstance(value, list):
        return [p for i, child in enumerate(value) for p in _leaves_of(child, (*path, i))] or [path]
    return [path]


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def _body_for(data, path: str):
    base = next((b for prefix, b in BASES.items() if path.startswith(prefix)), None)
    if base is None or data.draw(st.integers(0, 4), label="free") == 0:
        return data.draw(_bodies, label="body")
    leaf = data.draw(st.sampled_from(_leaves_of(base)), label="leaf")
    return _replaced(base, leaf, data.draw(st.one_of(_nasty, _values), label="value"))


def _nest(depth: int):
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


def _serialize(value) -> bytes:
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, check_circular=False)
    return text.replace(json.dumps(INFINITE), "1e400").encode()


def _routes(app) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        if method in ("post", "put", "patch") and path.startswith("/v1/")
    )


async def _fingerprint(db) -> dict:
    """The same comparison as `_snapshot` in one round trip on PostgreSQL (a hash of each table's
    rows, volatile columns left out); SQLite reads in-process, so it takes the snapshot itself."""
    if not db.is_postgres:
        return await _snapshot(db)
    drop = " - ".join(f"'{c}'" for c in sorted(VOLATILE_COLUMNS))
    row = f"(to_jsonb(x) - {drop})::text"
    query = " UNION ALL ".join(
        f"SELECT '{t.name}' AS t, md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) FROM \"{t.name}\" x"
        for t in metadata.sorted_tables
    )
    async with db.read() as conn:
        return dict((await conn.execute(sa.text(query))).all())


async def _snapshot(db) -> dict:
    found = {}
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in VOLATILE_COLUMNS]
            rows = (await conn.execute(sa.select(*columns))).all()
            found[table.name] = sorted(repr(tuple(row)) for row in rows)
    return found


@pytest.fixture
async def seeded(api, tenant):
    return await create_all(api.client, tenant.headers)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_generated_bodies_never_give_5xx_and_refusals_change_nothing(api, tenant, seeded, data):
    method, path = data.draw(st.sampled_from(_routes(api.app)), label="route")
    url = re.sub(r"\{(\w+)\}", lambda m: seeded.get(m.group(1), "0" * 24), path)
    body = _serialize(_body_for(data, path))
    before = await _snapshot(api.db)
    response = await api.client.request(
        method, url, content=body, headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code < 500, (method, url, body[:300], response.text)
    if 400 <= response.status_code < 500:
        assert response.json()["success"] is False
        assert await _snapshot(api.db) == before, (method, url, body[:300], response.text)


FIXED_VALUES = [10**30, -(10**30), INFINITE, "a\ud800", "x" * 70_000, _nest(200)]


def _fixed_bodies(path: str) -> list:
    """Each fixed nasty value once, in turn at each leaf of the route's valid body (or as the whole
    body when the route has none), plus a deeply nested and a surrogate-only body."""
    base = next((b for prefix, b in BASES.items() if path.startswith(prefix)), None)
    if base is None:
        return [*FIXED_VALUES, {"name": "\udfff"}]
    leaves = _leaves_of(base)
    return [_replaced(base, leaves[i % len(leaves)], v) for i, v in enumerate(FIXED_VALUES)] + [_nest(200)]


async def test_every_write_route_refuses_each_fixed_nasty_body_cleanly(api, tenant, seeded):
    """Every POST/PUT/PATCH route meets every fixed nasty value (the generated test above samples
    routes at random; this one reaches all of them on every run)."""
    routes = _routes(api.app)
    assert len(routes) > 40
    state = await _fingerprint(api.db)
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: seeded.get(m.group(1), "0" * 24), path)
        for value in _fixed_bodies(path):
            body = _serialize(value)
            response = await api.client.request(
                method, url, content=body, headers={**tenant.headers, "content-type": "application/json"}
            )
            assert response.status_code < 500, (method, url, body[:300], response.text)
            if response.status_code >= 400:
                assert response.json()["success"] is False
            after = await _fingerprint(api.db)
            assert response.status_code < 400 or after == state, (method, url, body[:300], response.text)
            state = after
