"""Paging both ways: `page` (v2-v6, also v7+) and `page_token` (v7+), with their expiry rules."""

from __future__ import annotations

import pytest

from tap_zoho_bulk.simulator import run_simulator

PAGE_TOKEN_ERROR = {
    "code": "INVALID_REQUEST",
    "details": {"api_name": "page_token"},
    "message": "the given page_token is invalid or expired",
    "status": "error",
}


def all_ids(sim, module="Leads"):
    return [record["Id"] for record in sim.dataset.records(module)]


@pytest.mark.parametrize("version", ["v2", "v6", "v7"])
def test_page_numbers_walk_through_every_record(api, version):
    ids, pages, page = [], [], 1
    while True:
        job_id = api.create_id(version, {"module": "Leads", "page": page})
        result = api.job(version, job_id)["result"]
        rows = api.rows(version, job_id)
        assert rows[0][0] == "Id"
        assert result["count"] == len(rows) - 1
        assert "next_page_token" not in result or version == "v7"
        ids += [row[0] for row in rows[1:]]
        pages.append(result["count"])
        if not result["more_records"]:
            break
        page += 1
    assert pages == [15, 15, 10]
    assert ids == all_ids(api.sim)


def test_page_token_walks_through_every_record(api):
    job_id = api.create_id("v8", {"module": "Leads", "fields": ["Last_Name"]})
    ids, pages = [], []
    while True:
        job = api.job("v8", job_id)
        rows = api.rows("v8", job_id)
        assert rows[0] == ["Id", "Last_Name"]
        ids += [row[0] for row in rows[1:]]
        pages.append(job["query"]["page"])
        if not job["result"]["more_records"]:
            assert "next_page_token" not in job["result"]
            break
        job_id = api.create_id("v8", {"page_token": job["result"]["next_page_token"]})
    assert pages == [1, 2, 3]
    assert ids == all_ids(api.sim)


def test_continuation_echoes_the_query_the_token_carries(api):
    first = api.create_id("v7", {"module": "Leads", "fields": ["Email"]})
    token = api.job("v7", first)["result"]["next_page_token"]
    second = api.job("v7", api.create_id("v7", {"page_token": token}))
    assert second["query"]["module"]["api_name"] == "Leads"
    assert second["query"]["fields"] == ["Email"]
    assert second["query"]["page_token"] == token
    assert second["query"]["page"] == 2


def test_page_token_expires_on_the_simulated_clock(make_api):
    with run_simulator(records=40, page_size=15, page_token_lifetime=100) as sim:
        api = make_api(sim)
        first = api.create_id("v8", {"module": "Leads"})
        token = api.job("v8", first)["result"]["next_page_token"]
        sim.advance(101)
        response = api.create("v8", {"page_token": token})
        assert (response.status_code, response.json()) == (400, PAGE_TOKEN_ERROR)


def test_page_token_is_bound_to_its_user(api, make_api):
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    other = make_api(api.sim, api.sim.add_refresh_token(user_index=2))
    response = other.create("v8", {"page_token": token})
    assert (response.status_code, response.json()) == (400, PAGE_TOKEN_ERROR)
    assert api.create("v8", {"page_token": token}).status_code == 201


def test_expire_page_tokens_invalidates_issued_tokens(api):
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    api.sim.expire_page_tokens()
    response = api.create("v8", {"page_token": token})
    assert (response.status_code, response.json()) == (400, PAGE_TOKEN_ERROR)


def test_unknown_page_token_and_page_token_before_v7_are_refused(api):
    assert api.create("v8", {"page_token": "a4d1c8ff7a770500e0483a7bc4b3a40a7160"}).json() == (
        PAGE_TOKEN_ERROR
    )
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    refused = api.create("v6", {"page_token": token})
    assert refused.status_code == 400
    assert refused.json()["details"] == {"api_name": "page_token"}


def test_a_token_continuation_reads_the_snapshot_of_the_first_page(api):
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    api.sim.mutate(add={"Leads": 20})
    ids = [row[0] for row in api.rows("v8", first)[1:]]
    job_id = api.create_id("v8", {"page_token": token})
    while True:
        ids += [row[0] for row in api.rows("v8", job_id)[1:]]
        result = api.job("v8", job_id)["result"]
        if not result["more_records"]:
            break
        job_id = api.create_id("v8", {"page_token": result["next_page_token"]})
    assert len(ids) == 40
    fresh = api.create_id("v8", {"module": "Leads", "page": 4})
    assert api.job("v8", fresh)["result"]["count"] == 15


@pytest.mark.parametrize("version", ["v2", "v8"])
def test_criteria_pages_hold_exactly_the_matching_records(make_api, version):
    with run_simulator(seed=2, records=200, page_size=15) as sim:
        api = make_api(sim)
        records = list(sim.dataset.records("Leads"))
        times = sorted(record["Modified_Time"] for record in records)
        low, high = times[40], times[160]
        criteria = {
            "group_operator": "and",
            "group": [
                {
                    "api_name": "Modified_Time",
                    "comparator": "greater_equal",
                    "value": low.isoformat(),
                },
                {"api_name": "Modified_Time", "comparator": "less_than", "value": high.isoformat()},
            ],
        }
        expected = [r["Id"] for r in records if low <= r["Modified_Time"] < high]
        query = {"module": "Leads", "fields": ["Modified_Time"], "criteria": criteria}
        job_id, ids = api.create_id(version, query), []
        while True:
            ids += [row[0] for row in api.rows(version, job_id)[1:]]
            result = api.job(version, job_id)["result"]
            if not result["more_records"]:
                break
            if version == "v8":
                job_id = api.create_id(version, {"page_token": result["next_page_token"]})
            else:
                query["page"] = query.get("page", 1) + 1
                job_id = api.create_id(version, query)
        assert ids == expected
        assert len(expected) >= 100
