"""Zoho's limits: 10 downloads a minute, in-flight jobs, result retention, API credits."""

from __future__ import annotations

from pathlib import Path

from tap_zoho_bulk.simulator import run_simulator

TOO_MANY = "TOO_MANY_REQUESTS"


def test_eleventh_download_within_a_minute_is_refused_for_every_job(api):
    first = api.create_id("v8", {"module": "Leads"})
    second = api.create_id("v8", {"module": "Contacts"})
    statuses = [api.download("v8", first).status_code for _ in range(10)]
    assert statuses == [200] * 10
    refused = api.download("v8", first)
    assert refused.status_code == 429
    body = refused.json()
    assert (body["code"], body["details"], body["status"]) == (TOO_MANY, {}, "error")
    assert api.download("v8", second).status_code == 429
    api.sim.advance(60)
    assert api.download("v8", second).status_code == 200
    assert api.sim.stats()["downloads"] == {"served": 11, "refused": 2}


def test_in_flight_jobs_are_capped(make_api):
    with run_simulator(records=5, job_seconds=10, max_in_flight_jobs=2) as sim:
        api = make_api(sim)
        api.create_id("v8", {"module": "Leads"})
        api.create_id("v8", {"module": "Contacts"})
        refused = api.create("v8", {"module": "Deals"})
        assert (refused.status_code, refused.json()["code"]) == (429, TOO_MANY)
        assert sim.stats()["jobs_in_flight"] == 2
        sim.advance(10)
        assert api.create("v8", {"module": "Deals"}).status_code == 201


def test_results_expire_after_retention_and_their_files_are_deleted(make_api):
    with run_simulator(records=5, result_retention_seconds=100) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        assert api.download("v8", job_id).status_code == 200
        workdir = Path(str(sim.stats()["workdir"]))
        assert [p.name for p in workdir.iterdir()] == [f"{job_id}.zip"]
        sim.advance(101)
        assert list(workdir.iterdir()) == []
        gone = api.download("v8", job_id)
        assert (gone.status_code, gone.json()["details"]) == (404, {"resource": job_id})
        assert api.job("v8", job_id)["state"] == "COMPLETED"


def test_result_file_is_written_once_and_reused(api):
    job_id = api.create_id("v8", {"module": "Leads"})
    first = api.download("v8", job_id).content
    path = Path(str(api.sim.stats()["workdir"])) / f"{job_id}.zip"
    written = path.stat().st_mtime_ns
    assert api.download("v8", job_id).content == first
    assert path.stat().st_mtime_ns == written


def test_credits_50_per_job_1_per_other_call_none_for_tokens_or_refusals(make_api):
    with run_simulator(records=5, download_limit_per_minute=1) as sim:
        api = make_api(sim)
        api.token()
        assert sim.stats()["credits_used"] == 0
        api.get("/crm/v8/settings/modules")
        api.get("/crm/v8/settings/fields", params={"module": "Leads"})
        job_id = api.create_id("v8", {"module": "Leads"})
        api.job("v8", job_id)
        api.download("v8", job_id)
        assert api.download("v8", job_id).status_code == 429
        api.create("v8", {"module": "Notes"})
        api.get(f"/crm/bulk/v8/write/{sim.bulk_write_job_ids['ADDED']}")
        stats = sim.stats()
        assert stats["credits_used"] == 1 + 1 + 50 + 1 + 1 + 0 + 1 + 1
        assert stats["token_requests"] == 1
        assert stats["calls"] == {
            "token": 1,
            "modules": 1,
            "fields": 1,
            "create": 2,
            "poll": 1,
            "download": 2,
            "write": 1,
        }
