"""The table of duties: every duty runs in exactly one role of every documented deployment, and in
exactly one process of `serve`'s children when a duty runs once."""

from __future__ import annotations

from collections import Counter

import pytest

from sendhouse.config import Settings
from sendhouse.roles import API, COMMANDS, DEPLOYMENTS, DUTIES, ROLES, WORKER, _factory, duties_for


@pytest.fixture
def everything_on(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, inbound_smtp="127.0.0.1:2525")


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
def test_every_duty_runs_in_exactly_one_role_of_each_deployment(deployment, everything_on):
    started = Counter(
        duty.name
        for command in DEPLOYMENTS[deployment]
        for duty in duties_for(COMMANDS[command], everything_on)
    )
    assert started == Counter({duty.name: 1 for duty in DUTIES})


def test_deployments_cover_the_documented_commands():
    assert DEPLOYMENTS == {"one machine": ("serve",), "scale-out": ("serve --no-worker", "worker")}
    assert (
        COMMANDS["serve"] == ROLES
        and COMMANDS["serve --no-worker"] == (API,)
        and COMMANDS["worker"] == (WORKER,)
    )


def test_each_duty_has_one_known_role_a_unique_name_and_a_starter():
    assert len({duty.name for duty in DUTIES}) == len(DUTIES)
    for duty in DUTIES:
        assert duty.role in ROLES and callable(_factory(duty)), duty


def test_only_the_first_process_of_a_role_runs_the_once_duties(everything_on):
    later = {duty.name for duty in duties_for(ROLES, everything_on, first=False)}
    assert later == {"delivery"}
    assert {d.name for d in duties_for((WORKER,), everything_on)} == {
        "delivery",
        "housekeeping",
        "scheduler",
        "automation runs",
        "webhook dispatch",
    }


def test_a_duty_switched_off_by_its_setting_is_not_started(tmp_path):
    names = {duty.name for duty in duties_for(ROLES, Settings(data_dir=tmp_path))}
    assert "inbound receiver" not in names and "webhook dispatch" in names


def test_skipped_duties_are_left_out(everything_on):
    names = {duty.name for duty in duties_for((WORKER,), everything_on, skip=("scheduler",))}
    assert names == {"delivery", "housekeeping", "automation runs", "webhook dispatch"}
