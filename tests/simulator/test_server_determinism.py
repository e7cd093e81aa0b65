"""Same seed (and data time), same requests: same jobs and byte-identical CSVs, under job ids
that no other start of the simulator handed out."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime

from tap_zoho_bulk.simulator import run_simulator
from tap_zoho_bulk.simulator.catalog import ORG_PREFIX

QUERIES = [
    {"module": "Leads"},
    {"module": "Contacts", "fields": ["Last_Name", "Account_Name.Account_Name", "Owner.email"]},
    {"module": "Shipments", "page": 2},
]


def session(make_api, seed):
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    with run_simulator(seed=seed, records=30, page_size=20, now=now) as sim:
        api = make_api(sim)
        out = []
        for query in QUERIES:
            job_id = api.create_id("v8", query)
            job = api.job("v8", job_id)
            del job["created_time"]
            content = api.download("v8", job_id).content
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                csv_bytes = archive.read(f"{job_id}.csv")
            out.append((job, csv_bytes))
        return out


def without_ids(answers):
    """The jobs with their ids (and what is derived from them) taken out."""
    out = []
    for job, csv_bytes in answers:
        rest = dict(job)
        job_id = rest.pop("id")
        result = dict(rest.pop("result"))
        assert result.pop("download_url") == f"/crm/bulk/v8/read/{job_id}/result"
        result.pop("next_page_token", None)
        out.append((rest, result, csv_bytes))
    return out


def test_same_seed_same_answers(make_api):
    first, second = session(make_api, 4), session(make_api, 4)
    assert without_ids(first) == without_ids(second)
    assert [job["result"].get("more_records") for job, _ in first] == [True, True, False]


def test_job_ids_differ_between_starts_of_the_same_seed(make_api):
    first, second = session(make_api, 4), session(make_api, 4)
    ids = [job["id"] for job, _ in first] + [job["id"] for job, _ in second]
    assert len(set(ids)) == len(ids)
    for job_id in ids:
        assert re.fullmatch(rf"{ORG_PREFIX}\d{{12}}", job_id)
        assert int(job_id) < 2**63  # Zoho's SDKs read ids as int64
    assert [job["result"]["next_page_token"] for job, _ in first[:2]] != [
        job["result"]["next_page_token"] for job, _ in second[:2]
    ]


def test_job_ids_increase_within_a_server(make_api):
    with run_simulator(records=5, max_in_flight_jobs=100) as sim:
        api = make_api(sim)
        ids = [int(api.create_id("v8", {"module": "Leads"})) for _ in range(30)]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)


def test_other_seed_other_data(make_api):
    first, second = session(make_api, 4), session(make_api, 5)
    for (_, one), (_, other) in zip(first, second, strict=True):
        assert one.splitlines()[0] == other.splitlines()[0]
        assert one != other


def test_job_ids_stay_unique_and_19_digits_when_the_clock_stands_still_or_wraps(
    make_api, monkeypatch
):
    with run_simulator(records=5, max_in_flight_jobs=100) as sim:
        api = make_api(sim)
        api.token()
        stamps = iter([5, 5, 3, 10**12 - 2, 10**12 - 2, 10**12 - 2, 7])
        monkeypatch.setattr("tap_zoho_bulk.simulator.jobs.wall_micros", lambda: next(stamps))
        ids = [api.create_id("v8", {"module": "Leads"}) for _ in range(7)]
        monkeypatch.undo()
        tails = [int(job_id[len(ORG_PREFIX) :]) for job_id in ids]
        assert tails == [5, 6, 7, 10**12 - 2, 10**12 - 1, 0, 7 + 1]
        assert all(len(job_id) == 19 for job_id in ids)
