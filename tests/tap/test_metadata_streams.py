"""The metadata streams against the simulator over real HTTP: bulk write jobs and their result
rows, exactly as the simulator serves them per API version, and the audit of the tap's own bulk
read jobs, compared with the jobs the simulator saw."""

from __future__ import annotations

import csv
import io
import logging
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from jsonschema.validators import validator_for  # type: ignore[import-untyped]

from tap_zoho_bulk.errors import ConfigError, UnsafeURLError, ZohoAPIError
from tap_zoho_bulk.simulator import BULK_WRITE_JOB_IDS, Simulator
from tap_zoho_bulk.simulator.bulk_write import BulkWrites
from tap_zoho_bulk.simulator.jobs import ApiError, parse_utc_offset
from tap_zoho_bulk.singer.job_streams import READ_JOB_SCHEMA, normalize_status, split_errors
from tests.tap.harness import SyncResult, access_token, config_for, discover, sync

IDS = dict(BULK_WRITE_JOB_IDS)
NORMALIZED = {
    "ADDED": "ADDED",
    "INPROGRESS": "IN_PROGRESS",
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
}
UNKNOWN_JOB = "4150868000009999999"


# -- helpers --------------------------------------------------------------------------------


def stat(sim: Simulator, key: str) -> Any:
    return sim.stats()[key]


def zoho_get(sim: Simulator, url: str) -> requests.Response:
    """A GET as any Zoho client would make it, independent of the tap's code."""
    if url.startswith("/"):
        url = sim.api_domain + url
    return requests.get(
        url, headers={"Authorization": f"Zoho-oauthtoken {access_token(sim)}"}, timeout=10
    )


def served_job(sim: Simulator, version: str, job_id: str) -> dict[str, Any]:
    answer = zoho_get(sim, f"/crm/bulk/{version}/write/{job_id}")
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


def served_rows(sim: Simulator, url: str) -> list[dict[str, str]]:
    answer = zoho_get(sim, url)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        (name,) = archive.namelist()
        text = archive.read(name).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def selecting(config: dict[str, Any], *names: str) -> dict[str, Any]:
    """The discovered catalog with exactly `names` selected."""
    catalog = discover(config)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in names
    return catalog


def write_config(sim: Simulator, version: str, ids: list[str]) -> dict[str, Any]:
    return config_for(sim, api_version=version, modules=["Leads"], bulk_write_job_ids=ids)


def sync_write_streams(sim: Simulator, version: str, ids: list[str]) -> SyncResult:
    config = write_config(sim, version, ids)
    return sync(config, catalog=selecting(config, "bulk_write_jobs", "bulk_write_results"))


def assert_valid(result: SyncResult, stream: str) -> None:
    schema = result.schemas[stream]
    validator = validator_for(schema)(schema)
    for record in result.records[stream]:
        validator.validate(record)


def utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def replace_writes(sim: Simulator, writes_class: type[BulkWrites], base_url: str) -> None:
    """Serve the seeded bulk write jobs with result URLs on `base_url` (the simulator has no
    option for it; its `BulkWrites` takes the base URL as a constructor argument)."""
    sim.app.writes = writes_class(
        base_url=base_url,
        module_ids={name: module.id for name, module in sim.dataset.modules.items()},
        user=sim.user,
        tz=parse_utc_offset("+05:30"),
        started_at=sim.clock.now(),
    )


class ExpiredResults(BulkWrites):
    def result_zip(self, job_id: str) -> bytes | ApiError:
        return ApiError(404, "RESOURCE_NOT_FOUND", "The requested resource doesn't exist.")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An HTTP server on another host name than the API domain, recording what reaches it."""
    seen: list[dict[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), seen
    finally:
        server.shutdown()
        server.server_close()


# -- bulk_write_jobs ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v2.1", "v8"])
def test_write_jobs_are_what_zoho_serves(sim: Simulator, version: str) -> None:
    result = sync_write_streams(sim, version, list(IDS.values()))

    records = {r["id"]: r for r in result.records["bulk_write_jobs"]}
    assert list(records) == list(IDS.values())
    assert_valid(result, "bulk_write_jobs")
    modern = version != "v2"
    for status, job_id in IDS.items():
        raw = served_job(sim, version, job_id)
        record = records[job_id]
        assert raw["status"] == status
        assert record["status"] == status
        assert record["normalized_status"] == NORMALIZED[status]
        assert record["operation"] == "insert"
        assert record["character_encoding"] == (None if status == "ADDED" else "UTF-8")
        assert record["ignore_empty"] is (True if modern else None)
        assert raw["created_time"].endswith("+05:30")
        assert record["created_time"] == utc(raw["created_time"])
        assert record["created_time"].endswith("+00:00")
        assert record["created_by"] == raw["created_by"]
        assert record["callback"] == (raw["callback"] if modern else None)
        assert "callback" in raw or not modern
        assert record["download_url"] == (raw.get("result") or {}).get("download_url")
        assert (record["download_url"] is not None) == (status == "COMPLETED")

        (resource,) = record["resources"]
        (raw_resource,) = raw["resource"]
        if modern:
            assert isinstance(raw_resource["module"], dict)
            assert resource["module"] == raw_resource["module"]["api_name"]
            assert resource["module_id"] == raw_resource["module"]["id"]
            assert resource["code"] == raw_resource["code"] == status
        else:
            assert isinstance(raw_resource["module"], str)
            assert resource["module"] == raw_resource["module"]
            assert resource["module_id"] is None
            assert resource["code"] is None
        assert resource["type"] == "data"
        assert resource["status"] == status
        assert resource["normalized_status"] == NORMALIZED[status]
        assert resource["field_mappings"] == [
            {"module": None, "parent_column_index": None, **m}
            for m in raw_resource["field_mappings"]
        ]
        file = resource["file"]
        assert file["status"] == status
        assert file["normalized_status"] == NORMALIZED[status]
        counts = ["added_count", "skipped_count", "updated_count", "total_count"]
        if status == "ADDED":
            assert raw_resource["file"] == {"status": "ADDED"}
            assert file["name"] is None
            assert all(file[c] is None for c in counts)
        else:
            assert file["name"] == raw_resource["file"]["name"]
            assert {c: file[c] for c in counts} == {c: raw_resource["file"][c] for c in counts}
    assert records[IDS["COMPLETED"]]["resources"][0]["file"]["total_count"] == 11


def root_selected(catalog: dict[str, Any]) -> dict[str, bool]:
    return {
        entry["tap_stream_id"]: next(
            m["metadata"]["selected"] for m in entry["metadata"] if m["breadcrumb"] == []
        )
        for entry in catalog["streams"]
    }


def test_discovery_and_default_selection(sim: Simulator) -> None:
    """Fixed schemas and keys; the write streams are on by default when job ids are set, the
    audit only when a catalog selects it."""
    config = write_config(sim, "v8", [])
    catalog = discover(config)
    keys = {e["tap_stream_id"]: e["key_properties"] for e in catalog["streams"]}
    assert keys == {
        "Leads": ["Id"],
        "bulk_read_jobs": ["job_id"],
        "bulk_write_jobs": ["id"],
        "bulk_write_results": ["job_id", "row_number"],
        "deleted_records": ["module", "id"],
    }
    assert root_selected(catalog) == {
        "Leads": True,
        "bulk_read_jobs": False,
        "bulk_write_jobs": False,
        "bulk_write_results": False,
        "deleted_records": True,
    }
    with_ids = write_config(sim, "v8", [IDS["COMPLETED"]])
    assert root_selected(discover(with_ids)) == {
        "Leads": True,
        "bulk_read_jobs": False,
        "bulk_write_jobs": True,
        "bulk_write_results": True,
        "deleted_records": True,
    }

    assert set(sync(config).records) == {"Leads"}
    assert set(sync(with_ids).records) == {"Leads", "bulk_write_jobs", "bulk_write_results"}


def test_selecting_a_stream_alone_selects_its_whole_schema(sim: Simulator) -> None:
    config = config_for(sim, modules=["Leads"])

    result = sync(config, catalog=selecting(config, "Leads", "bulk_read_jobs"))

    assert list(result.schemas["bulk_read_jobs"]["properties"]) == list(
        READ_JOB_SCHEMA["properties"]
    )
    records = result.records["bulk_read_jobs"]
    assert len(records) == 3  # 120 Leads in pages of 50
    assert all(list(record) == list(READ_JOB_SCHEMA["properties"]) for record in records)


# -- bulk_write_results ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v8"])
def test_write_results_are_the_rows_of_completed_jobs(sim: Simulator, version: str) -> None:
    result = sync_write_streams(sim, version, list(IDS.values()))

    rows = result.records["bulk_write_results"]
    assert_valid(result, "bulk_write_results")
    assert {r["job_id"] for r in rows} == {IDS["COMPLETED"]}
    raw = served_rows(sim, served_job(sim, version, IDS["COMPLETED"])["result"]["download_url"])
    assert len(rows) == len(raw) == 11
    for number, (row, served) in enumerate(zip(rows, raw, strict=True), start=1):
        assert row["row_number"] == number
        assert row["module"] == "Leads"
        assert row["status"] == served["STATUS"]
        assert row["record_id"] == (served["RECORD_ID"] or None)
        assert row["values"] == {
            k: v for k, v in served.items() if k not in {"STATUS", "RECORD_ID", "ERRORS"}
        }
        joined = ":".join(f"{e['code']}-{e['column']}" for e in row["errors"])
        assert joined == served["ERRORS"]
    assert [r["errors"] for r in rows[9:]] == [
        [{"code": "MANDATORY_NOT_FOUND", "column": "Last_Name"}],
        [{"code": "INVALID_DATA", "column": "Mobile"}, {"code": "INVALID_DATA", "column": "Owner"}],
    ]
    # The rows add up to the job's counts.
    (job,) = [j for j in result.records["bulk_write_jobs"] if j["id"] == IDS["COMPLETED"]]
    file = job["resources"][0]["file"]
    assert sum(r["status"] == "added" for r in rows) == file["added_count"] == 9
    assert sum(r["status"] == "skipped" for r in rows) == file["skipped_count"] == 2
    assert all(r["record_id"] for r in rows if r["status"] == "added")


def test_results_alone_fetch_each_job_once(sim: Simulator) -> None:
    config = write_config(sim, "v8", [IDS["COMPLETED"], IDS["ADDED"]])
    before = stat(sim, "calls").get("write", 0)

    result = sync(config, catalog=selecting(config, "bulk_write_results"))

    assert set(result.records) == {"bulk_write_results"}
    assert len(result.records["bulk_write_results"]) == 11
    # Two job details and one download, though both write streams exist in the run.
    assert stat(sim, "calls")["write"] - before == 3


@pytest.mark.parametrize("fault", ["reset", "truncate", "503"])
def test_broken_result_download_is_retried(sim: Simulator, fault: str) -> None:
    """A connection reset, a body cut short under a matching Content-Length, a 503."""
    sim.faults.add(f"write:{fault}:nth=2")  # call 1 is the job, call 2 its result file

    result = sync_write_streams(sim, "v8", [IDS["COMPLETED"]])

    assert sum(stat(sim, "faults_fired").values()) == 1
    assert stat(sim, "calls")["write"] == 3
    assert len(result.records["bulk_write_results"]) == 11


def test_relative_download_url_is_on_the_api_domain(sim: Simulator) -> None:
    """Older doc pages show `/v2/crm/org.../bulk-write/...zip` without a host (seed 004)."""
    replace_writes(sim, BulkWrites, base_url="")
    assert served_job(sim, "v2", IDS["COMPLETED"])["result"]["download_url"].startswith("/v2/crm/")

    result = sync_write_streams(sim, "v2", [IDS["COMPLETED"]])

    assert len(result.records["bulk_write_results"]) == 11


def test_expired_result_is_a_warning(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    replace_writes(sim, ExpiredResults, base_url=sim.base_url)

    with caplog.at_level(logging.WARNING):
        result = sync_write_streams(sim, "v8", [IDS["COMPLETED"]])

    assert result.records["bulk_write_results"] == []
    assert len(result.records["bulk_write_jobs"]) == 1
    assert any(
        IDS["COMPLETED"] in r.getMessage() and "no longer available" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    "host", ["http://localhost:{port}", "https://download-accl.zoho.com.example.net"]
)
def test_foreign_download_host_is_refused_without_sending_the_token(
    sim: Simulator, recorder: tuple[int, list[dict[str, str]]], host: str
) -> None:
    port, seen = recorder
    base_url = host.format(port=port)
    replace_writes(sim, BulkWrites, base_url=base_url)
    config = write_config(sim, "v8", [IDS["COMPLETED"]])
    catalog = selecting(config, "bulk_write_jobs", "bulk_write_results")

    with pytest.raises(UnsafeURLError) as caught:
        sync(config, catalog=catalog)

    message = str(caught.value)
    assert IDS["COMPLETED"] in message
    assert base_url.split("//")[1].split(":")[0] in message
    assert "Zoho-oauthtoken" not in message
    assert seen == []


# -- unknown ids, scopes, bad ids -----------------------------------------------------------


@pytest.mark.parametrize(("version", "status"), [("v2", 404), ("v2.1", 400), ("v8", 400)])
def test_unknown_write_job_is_a_warning_naming_it(
    sim: Simulator, caplog: pytest.LogCaptureFixture, version: str, status: int
) -> None:
    answer = zoho_get(sim, f"/crm/bulk/{version}/write/{UNKNOWN_JOB}")
    assert (answer.status_code, answer.json()["code"]) == (status, "RESOURCE_NOT_FOUND")

    with caplog.at_level(logging.WARNING):
        result = sync_write_streams(sim, version, [UNKNOWN_JOB, IDS["COMPLETED"]])

    assert [r["id"] for r in result.records["bulk_write_jobs"]] == [IDS["COMPLETED"]]
    assert len(result.records["bulk_write_results"]) == 11
    warnings = [r.getMessage() for r in caplog.records if UNKNOWN_JOB in r.getMessage()]
    assert len(warnings) == 1, "warned once, though both write streams read the jobs"
    assert "RESOURCE_NOT_FOUND" in warnings[0]


def test_missing_bulk_write_scope_names_the_scope(sim: Simulator) -> None:
    narrow = sim.add_refresh_token(
        scopes=("ZohoCRM.modules.ALL", "ZohoCRM.settings.ALL", "ZohoCRM.bulk.read")
    )
    config = {**write_config(sim, "v8", [IDS["COMPLETED"]]), "refresh_token": narrow}

    with pytest.raises(ZohoAPIError, match=r"ZohoCRM\.bulk\.CREATE") as caught:
        sync(config, catalog=selecting(config, "bulk_write_jobs"))

    assert caught.value.code == "OAUTH_SCOPE_MISMATCH"


def test_job_id_that_is_not_an_id_fails_before_any_job(sim: Simulator) -> None:
    config = write_config(sim, "v8", ["4150868000005350003/../../read"])

    with pytest.raises(ConfigError, match="not a Zoho job id"):
        sync(config)

    calls = stat(sim, "calls")
    assert calls.get("create", 0) == calls.get("write", 0) == 0


# -- bulk_read_jobs -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "v8"])
def test_read_jobs_are_the_jobs_zoho_saw(sim: Simulator, version: str) -> None:
    config = config_for(sim, api_version=version, modules=["Leads", "Contacts"])
    catalog = selecting(config, "Leads", "Contacts", "bulk_read_jobs")

    result = sync(config, catalog=catalog)

    audit = result.records["bulk_read_jobs"]
    assert_valid(result, "bulk_read_jobs")
    seen = {job["id"]: job for job in stat(sim, "jobs")}
    assert sorted(r["job_id"] for r in audit) == sorted(seen)
    assert len(audit) == 6  # 120 records per module in pages of 50
    for record in audit:
        job = seen[record["job_id"]]
        assert record["module"] == record["stream"] == job["module"]
        assert record["page"] == job["page"]
        assert record["state"] == job["state"] == "COMPLETED"
        assert (record["count"], record["more_records"]) == (job["count"], job["more_records"])
        assert record["credits"] == 50
        assert record["polls"] >= 1
        created = datetime.fromisoformat(record["created_time"])
        completed = datetime.fromisoformat(record["completed_time"])
        assert created.utcoffset() == completed.utcoffset() == UTC.utcoffset(None)
        elapsed = (completed - created).total_seconds()
        assert float(record["seconds_to_complete"]) == pytest.approx(elapsed)
        assert elapsed >= 0
        columns = catalog_columns(catalog, record["stream"])
        assert record["field_count"] == len(columns) - 1  # every selected column but Id
        echoed = zoho_get(sim, f"/crm/bulk/v8/read/{record['job_id']}").json()["data"][0]
        criteria = echoed["query"]["criteria"]
        assert record["criteria"]["comparator"] == criteria["comparator"] == "less_than"
        assert record["criteria"]["value"] == utc(criteria["value"])
    for module in ("Leads", "Contacts"):
        pages = sorted(
            (r["page"], r["count"], r["more_records"]) for r in audit if r["module"] == module
        )
        assert pages == [(1, 50, True), (2, 50, True), (3, 20, False)]
    # The audit is emitted after every module record.
    kinds = [(m["type"], m.get("stream")) for m in result.messages if m["type"] == "RECORD"]
    first_audit = kinds.index(("RECORD", "bulk_read_jobs"))
    assert all(stream == "bulk_read_jobs" for _, stream in kinds[first_audit:])
    assert len(kinds) - first_audit == 6


def test_read_jobs_without_module_streams_is_empty(sim: Simulator) -> None:
    config = config_for(sim, modules=["Leads"])

    result = sync(config, catalog=selecting(config, "bulk_read_jobs"))

    assert result.records["bulk_read_jobs"] == []
    assert "bulk_read_jobs" in result.schemas
    assert stat(sim, "calls").get("create", 0) == 0


def catalog_columns(catalog: dict[str, Any], stream: str) -> list[str]:
    (entry,) = [e for e in catalog["streams"] if e["tap_stream_id"] == stream]
    return list(entry["schema"]["properties"])


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("MANDATORY_NOT_FOUND-Last_Name", [("MANDATORY_NOT_FOUND", "Last_Name")]),
        (
            "MANDATORY_NOT_FOUND-Company,Last_Name:DUPLICATE_DATA-Email",
            [
                ("MANDATORY_NOT_FOUND", "Company"),
                ("MANDATORY_NOT_FOUND", "Last_Name"),
                ("DUPLICATE_DATA", "Email"),
            ],
        ),
        ("LIMIT_EXCEEDED", [("LIMIT_EXCEEDED", None)]),
        ("INVALID_DATA-Account_Name.id", [("INVALID_DATA", "Account_Name.id")]),
    ],
)
def test_errors_split_into_code_and_column(
    text: str, expected: list[tuple[str, str | None]]
) -> None:
    assert split_errors(text) == [{"code": c, "column": col} for c, col in expected]


@pytest.mark.parametrize(
    ("zoho", "normalized"),
    [
        ("INPROGRESS", "IN_PROGRESS"),
        ("IN PROGRESS", "IN_PROGRESS"),
        ("in progress", "IN_PROGRESS"),
        ("FAILURE", "FAILED"),
        ("FAILED", "FAILED"),
        ("SKIPPED", "SKIPPED"),
        ("PARTIALLY DONE", "PARTIALLY_DONE"),
        ("", None),
        (None, None),
    ],
)
def test_status_spellings_normalize(zoho: str | None, normalized: str | None) -> None:
    assert normalize_status(zoho) == normalized
