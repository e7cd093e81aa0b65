"""Bulk read jobs: the clock-driven state machine per API version and the version-shaped echo."""

from __future__ import annotations

import re

import pytest

from tap_zoho_bulk.simulator import run_simulator

WITHOUT_QUEUED = ["ADDED", "ADDED", "IN PROGRESS", "COMPLETED"]
WITH_QUEUED = ["ADDED", "QUEUED", "IN PROGRESS", "COMPLETED"]


@pytest.mark.parametrize(
    ("version", "states"),
    [
        ("v2", WITHOUT_QUEUED),
        ("v2.1", WITHOUT_QUEUED),
        ("v5", WITHOUT_QUEUED),
        ("v6", WITH_QUEUED),
        ("v7", WITH_QUEUED),
        ("v8", WITH_QUEUED),
    ],
)
def test_states_follow_the_simulated_clock(make_api, version, states):
    with run_simulator(records=10, job_seconds=100) as sim:
        api = make_api(sim)
        job_id = api.create_id(version, {"module": {"api_name": "Leads"}})
        seen = []
        for step in (0, 30, 30, 40):
            sim.advance(step)
            job = api.job(version, job_id)
            seen.append(job["state"])
            assert ("result" in job) == (job["state"] == "COMPLETED")
        assert seen == states


def test_zero_job_seconds_completes_at_once(api):
    job_id = api.create_id("v8", {"module": "Leads"})
    job = api.job("v8", job_id)
    assert job["state"] == "COMPLETED"
    assert job["result"]["count"] == 15
    assert job["result"]["per_page"] == 15


def test_failing_module_ends_in_failure_with_error_message(make_api):
    with run_simulator(records=10, failing_modules=("Deals",), job_seconds=10) as sim:
        api = make_api(sim)
        failing = api.create_id("v8", {"module": "Deals"})
        healthy = api.create_id("v8", {"module": "Leads"})
        assert api.job("v8", failing)["state"] == "ADDED"
        sim.advance(10)
        job = api.job("v8", failing)
        assert job["state"] == "FAILURE"
        assert job["result"] == {
            "error_message": {
                "status": "error",
                "code": "INTERNAL_SERVER_ERROR",
                "message": "Internal server error occurred.",
                "details": {},
            }
        }
        assert api.job("v8", healthy)["state"] == "COMPLETED"
        assert api.download("v8", failing).status_code == 404


def test_echo_holds_only_the_keys_sent_plus_page(api):
    job_id = api.create_id("v2.1", {"module": {"api_name": "Leads"}})
    module = api.sim.dataset.modules["Leads"]
    assert api.job("v2.1", job_id)["query"] == {
        "module": {"id": module.id, "api_name": "Leads"},
        "page": 1,
    }


@pytest.mark.parametrize("sent", ["Leads", {"api_name": "Leads"}])
def test_module_is_echoed_in_the_shape_of_the_version(api, sent):
    job_id = api.create_id("v2", {"module": sent})
    module = api.sim.dataset.modules["Leads"]
    assert api.job("v2", job_id)["query"]["module"] == "Leads"
    assert api.job("v8", job_id)["query"]["module"] == {"id": module.id, "api_name": "Leads"}


def test_criteria_echo_v2_uses_api_name_and_v21_uses_field_objects(api):
    criteria = {
        "group_operator": "or",
        "group": [
            {"field": {"api_name": "Last_Name"}, "comparator": "equal", "value": "Boyle"},
            {
                "group_operator": "and",
                "group": [
                    {"api_name": "Owner.last_name", "comparator": "equal", "value": "Boyle"},
                    {"api_name": "Email_Opt_Out", "comparator": "equal", "value": False},
                ],
            },
        ],
    }
    job_id = api.create_id("v8", {"module": "Leads", "criteria": criteria})
    leads = api.sim.dataset.modules["Leads"]
    last_name, opt_out = leads.field("Last_Name"), leads.field("Email_Opt_Out")
    assert api.job("v8", job_id)["query"]["criteria"] == {
        "group": [
            {
                "field": {"id": last_name.id, "api_name": "Last_Name"},
                "comparator": "equal",
                "value": "Boyle",
            },
            {
                "group": [
                    {
                        "field": {"id": None, "api_name": "Owner.last_name"},
                        "comparator": "equal",
                        "value": "Boyle",
                    },
                    {
                        "field": {"id": opt_out.id, "api_name": "Email_Opt_Out"},
                        "comparator": "equal",
                        "value": False,
                    },
                ],
                "group_operator": "and",
            },
        ],
        "group_operator": "or",
    }
    v2_leaf = api.job("v2", job_id)["query"]["criteria"]["group"][0]
    assert v2_leaf == {"api_name": "Last_Name", "comparator": "equal", "value": "Boyle"}


def test_times_and_ids_look_like_zoho(make_api):
    with run_simulator(records=5, utc_offset="-08:00") as sim:
        api = make_api(sim)
        created = api.create("v8", {"module": "Leads"}).json()["data"][0]["details"]
        assert re.fullmatch(r"\d{19}", created["id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-08:00", created["created_time"])
        assert api.job("v8", created["id"])["created_time"] == created["created_time"]


def test_jobs_belong_to_the_user_of_the_refresh_token(api, make_api):
    other = make_api(api.sim, api.sim.add_refresh_token(user_index=1))
    job_id = other.create_id("v8", {"module": "Leads"})
    created_by = api.job("v8", job_id)["created_by"]
    assert created_by["id"] != api.sim.user.id
    assert created_by["name"] == "Kris Marrier"
