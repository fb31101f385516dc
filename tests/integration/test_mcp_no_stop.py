"""The proof that MCP cannot stop a live campaign: every tool, called with plausible and with
hypothesis-generated arguments (campaign ids of a sending and a paused campaign, confirmed=true,
stray publish/sendNow/status fields), leaves both campaigns and their ledger rows as they were.
Both databases; the campaigns are started and paused through the services the API uses."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from mcp import Client

from sendhouse.bootstrap import build_container
from sendhouse.mcp_tools.server import build_server
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from sendhouse.services.projects import Principal
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.support.sending_data import start_campaign

WATCHED = (
    "status",
    "paused_at",
    "resumed_at",
    "aborted_at",
    "sent_at",
    "scheduled_at",
    "updated_at",
    "subject",
)
STRAY = {
    "sendNow": st.booleans(),
    "publish": st.booleans(),
    "status": st.sampled_from(["paused", "aborted", "sent"]),
    "scheduledAt": st.just("2000-01-01T00:00:00Z"),
    "action": st.sampled_from(["pause", "resume", "abort"]),
}


async def _setup(settings) -> tuple[Principal, dict[str, str], list]:
    container = build_container(settings, migrate=False)
    try:
        project = await project_service.create_project(container.db, name="live")
        sending = await start_campaign(container.db, project["id"], 30, prefix="s")
        paused = await start_campaign(container.db, project["id"], 30, prefix="p")
        await campaign_service.pause_campaign(container.db, project["id"], paused)
        principal = Principal("test", "project", project["organization_id"], project["id"])
        async with Client(build_server(container, principal=principal)) as client:
            tools = (await client.list_tools()).tools
        return principal, {"sending": sending, "paused": paused}, tools
    finally:
        await container.close()


async def _snapshot(settings, ids: dict[str, str]) -> dict:
    container = build_container(settings, migrate=False)
    try:
        async with container.db.read() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(*[campaigns.c[c] for c in ("id", *WATCHED)]).where(
                            campaigns.c.id.in_(ids.values())
                        )
                    )
                )
                .mappings()
                .all()
            )
            ledger = (
                await conn.execute(
                    sa.select(messages.c.campaign_id, messages.c.status, sa.func.count())
                    .where(messages.c.campaign_id.in_(ids.values()))
                    .group_by(messages.c.campaign_id, messages.c.status)
                )
            ).all()
        return {"campaigns": {r["id"]: dict(r) for r in rows}, "ledger": sorted(tuple(x) for x in ledger)}
    finally:
        await container.close()


async def _call_all(settings, principal: Principal, calls: list[tuple[str, dict]]) -> None:
    container = build_container(settings, migrate=False)
    try:
        async with Client(build_server(container, principal=principal)) as client:
            for name, args in calls:
                await client.call_tool(name, args)
    finally:
        await container.close()


def _value(name: str, schema: dict, ids: list[str]) -> st.SearchStrategy:
    if name.endswith(("Id", "Lists")):
        some_id = st.sampled_from(ids) | st.text(max_size=24)
        return st.lists(some_id, max_size=3) if name.endswith("Lists") else some_id
    if name == "confirmed":
        return st.booleans()
    return st.one_of([_by_type(option) for option in schema.get("anyOf", [schema])])


def _by_type(schema: dict) -> st.SearchStrategy:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    plausible = st.sampled_from(
        ["2099-01-01T00:00:00Z", "qa@example.org", "<p>Hi {{first_name}}</p>", "Launch"]
    )
    return {
        "string": plausible | st.text(max_size=30),
        "integer": st.integers(-2, 120),
        "boolean": st.booleans(),
        "array": st.lists(plausible, max_size=3),
        "null": st.none(),
        "object": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=2),
    }.get(kind, st.none())


def _arguments(tool, ids: list[str]) -> st.SearchStrategy:
    props = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    values = {name: _value(name, schema, ids) for name, schema in props.items()}
    base = st.fixed_dictionaries(
        {k: v for k, v in values.items() if k in required},
        optional={k: v for k, v in values.items() if k not in required},
    )
    return st.tuples(base, st.fixed_dictionaries({}, optional=STRAY)).map(lambda pair: {**pair[1], **pair[0]})


def _plausible_calls(tools, ids: dict[str, str]) -> list[tuple[str, dict]]:
    """Every tool with the live campaigns' ids and confirmed=true (and with the stray fields)."""
    calls = []
    for tool in tools:
        for campaign_id in ids.values():
            args = {
                "campaignId": campaign_id,
                "confirmed": True,
                "emails": ["qa@example.org"],
                "name": "x",
                "subject": "y",
                "htmlTemplate": "<p>z</p>",
                "sendNow": True,
                "publish": True,
            }
            props = tool.input_schema.get("properties", {})
            calls.append((tool.name, {k: v for k, v in args.items() if k in props or k in STRAY}))
    return calls


def test_no_sequence_of_mcp_calls_changes_a_sending_or_paused_campaign(settings):
    principal, ids, tools = asyncio.run(_setup(settings))
    before = asyncio.run(_snapshot(settings, ids))
    statuses = {before["campaigns"][ids[k]]["status"] for k in ids}
    assert statuses == {"sending", "paused"} and len(before["ledger"]) >= 2

    asyncio.run(_call_all(settings, principal, _plausible_calls(tools, ids)))
    assert asyncio.run(_snapshot(settings, ids)) == before

    one_call = st.sampled_from(tools).flatmap(
        lambda tool: _arguments(tool, list(ids.values())).map(lambda args: (tool.name, args))
    )

    @hyp_settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(one_call, min_size=1, max_size=6))
    def sequence_changes_nothing(calls):
        asyncio.run(_call_all(settings, principal, calls))
        assert asyncio.run(_snapshot(settings, ids)) == before

    sequence_changes_nothing()
