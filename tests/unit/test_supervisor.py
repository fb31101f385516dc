"""The children `serve` supervises: how many of each role, where the run-once duties land, backoff."""

from __future__ import annotations

import os
from collections import Counter

from sendhouse.config import Settings
from sendhouse.roles import API, COMMANDS, DUTIES, WORKER, duties_for
from sendhouse.supervisor import BACKOFF_BASE, BACKOFF_MAX, backoff, plan


def _settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path, inbound_smtp="127.0.0.1:2525", **values)


def test_children_per_role_follow_the_settings(tmp_path):
    children = plan(_settings(tmp_path, api_processes=3, workers=4), COMMANDS["serve"])
    assert Counter(c.role for c in children) == {API: 3, WORKER: 4}
    assert [c.index for c in children if c.role == WORKER] == [0, 1, 2, 3]
    only_http = plan(_settings(tmp_path, api_processes=2, workers=4), COMMANDS["serve --no-worker"])
    assert [(c.role, c.index) for c in only_http] == [(API, 0), (API, 1)]


def test_run_once_duties_land_in_exactly_one_child_and_delivery_in_every_worker(tmp_path):
    settings = _settings(tmp_path, api_processes=3, workers=4)
    started = Counter()
    for child in plan(settings, COMMANDS["serve"]):
        started.update(d.name for d in duties_for((child.role,), settings, first=child.index == 0))
    assert started == {duty.name: (4 if duty.name == "delivery" else 1) for duty in DUTIES}


def test_workers_default_to_the_number_of_cores(tmp_path):
    assert Settings(data_dir=tmp_path).workers == len(os.sched_getaffinity(0)) >= 1
    assert Settings(data_dir=tmp_path).api_processes == 1


def test_backoff_doubles_up_to_its_ceiling():
    assert [backoff(n) for n in (1, 2, 3)] == [BACKOFF_BASE, BACKOFF_BASE * 2, BACKOFF_BASE * 4]
    assert backoff(50) == BACKOFF_MAX
