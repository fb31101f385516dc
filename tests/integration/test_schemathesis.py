"""Schemathesis over every operation of /openapi.json, against the real app served by uvicorn.

Authenticated with a project key; one run per database (SQLite file, PostgreSQL). Path ids are
drawn half of the time from resources that exist in the key's project (so the fuzzer reaches
past the 404s into PATCH/PUT/actions on real rows), otherwise generated. Checks: no 5xx, status
codes and content types that the document declares, bodies that match the declared schemas
(every error is the envelope), and no header contradicting the document.
Bounded: a few examples per operation, no deadline, the coverage phase off (see README).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from sendhouse.bootstrap import build_container
from sendhouse.services import projects
from tests.support.live_server import LiveServer
from tests.support.resources import create_all

MAX_EXAMPLES = 8


async def _seed(settings, base_url: str) -> dict[str, str]:
    """A project key plus one resource of each kind the paths name, created over HTTP."""
    container = build_container(settings, migrate=False)
    try:
        project = await projects.create_project(container.db, name="fuzz")
        _, key = await projects.create_api_key(container.db, project_id=project["id"])
    finally:
        await container.close()
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=base_url, timeout=30) as client:
        return {"key": key, **await create_all(client, headers)}


def _config(seeded: dict[str, str], base_url: str) -> SchemathesisConfig:
    dictionaries = {name: {"values": [value]} for name, value in seeded.items() if name != "key"}
    return SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {seeded['key']}"},
            "generation": {"max-examples": MAX_EXAMPLES},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
            "dictionaries": dictionaries,
            "parameters": {f"path.{name}": {"dictionary": name, "probability": 0.5} for name in dictionaries},
        }
    )


@pytest.fixture
def fuzz_schema(settings):
    with LiveServer(settings) as server:
        seeded = asyncio.run(_seed(settings, server.url))
        schema = schemathesis.openapi.from_url(
            server.url + "/openapi.json", config=_config(seeded, server.url)
        )
        yield schema.exclude(path_regex=r"^/(mcp|dashboard)")


def _strategy(operation):
    """Valid inputs, and invalid ones where the operation has anything to make invalid."""
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    try:
        return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # noqa: BLE001 - nothing to negate (no parameters, no body)
        return positive


def _fuzz(operation, statuses: Counter) -> str | None:
    """Run the operation's examples (counting the statuses seen); the first failure as text, or None."""

    @given(case=_strategy(operation))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.target],
    )
    def run(case):
        # positive_data_acceptance wants 2xx for any schema-valid input, but ids that do not exist
        # (or references in a body) are schema-valid and rightly 404 / 400. ignored_auth mistakes
        # the configured valid key for generated auth; test_security_auth.py covers every key case.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance, ignored_auth])
        statuses[response.status_code] += 1

    try:
        run()
    except Exception as exc:  # noqa: BLE001 - reported below with the operation's name
        return f"{operation.label}: {exc}"
    return None


def test_every_operation_conforms(fuzz_schema):
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) > 70  # every /v1 operation of the document is fuzzed
    statuses: Counter = Counter()
    failures = [failure for operation in operations if (failure := _fuzz(operation, statuses))]
    assert not failures, "\n\n".join(failures)
    # the fuzzer got past validation and auth into real handlers, and was refused where it should be
    assert statuses[200] > 50 and statuses[400] > 50 and statuses[404] > 10, statuses
