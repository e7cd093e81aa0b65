"""Same seed (and data time), same requests: same jobs and byte-identical CSVs."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime

from tap_zoho_bulk.simulator import run_simulator

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


def test_same_seed_same_answers(make_api):
    assert session(make_api, 4) == session(make_api, 4)


def test_other_seed_other_data(make_api):
    first, second = session(make_api, 4), session(make_api, 5)
    for (_, one), (_, other) in zip(first, second, strict=True):
        assert one.splitlines()[0] == other.splitlines()[0]
        assert one != other
