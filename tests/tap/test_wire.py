"""Zoho's answers as the wire Structs read them: every sample Zoho published (the seeds, as the
simulator's tests keep them), the variants of other versions, extra keys ignored, and an answer
that does not fit refused in one line naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_zoho_bulk.errors import ZohoAPIError
from tap_zoho_bulk.zoho.wire import (
    CreateAnswer,
    JobError,
    ModuleRef,
    ReadJobAnswer,
    TokenAnswer,
    WriteJob,
    decode,
    error_of,
    module_names,
)
from tests.simulator.test_server_seeds import SEEDS

READ_JOBS = [name for name in SEEDS if "_job_" in name]
WRITE_JOBS = [name for name in SEEDS if "_write_" in name]
ERRORS = [name for name in SEEDS if SEEDS[name].get("status") == "error"]


def read(answer: Any, shape: type[Any]) -> Any:
    return decode(json.dumps(answer).encode(), shape, status=200, what="the answer")


# -- bulk read ------------------------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["4150868000005277059", 4150868000005277059])
def test_a_created_job_id_is_text_whether_zoho_sends_a_string_or_a_number(job_id: Any) -> None:
    answer = json.loads(json.dumps(SEEDS["001_created"]))
    answer["data"][0]["details"]["id"] = job_id

    assert read(answer, CreateAnswer).job_id == "4150868000005277059"


COMPLETED_V2 = SEEDS["000_job_completed_v2"]["data"][0]


@pytest.mark.parametrize("seed", READ_JOBS)
def test_every_bulk_read_job_zoho_shows(seed: str) -> None:
    (sample,) = SEEDS[seed]["data"]

    job = read(SEEDS[seed], ReadJobAnswer).job

    assert job.state == sample["state"]
    assert (job.result is None) == ("result" not in sample)
    if job.result is not None:
        assert (job.result.count, job.result.page) == (sample["result"]["count"], 1)
        assert job.result.more_records is False


def test_a_completed_job_of_v2_and_of_v8() -> None:
    v2 = read({"data": [COMPLETED_V2]}, ReadJobAnswer).job
    assert (v2.state, v2.result.count, v2.result.more_records) == ("COMPLETED", 96, False)
    assert v2.result.next_page_token is None

    v8_job = {
        **COMPLETED_V2,
        "query": {"module": {"id": "4150868000000002179", "api_name": "Contacts"}, "page": 2},
        "result": {"page": 2, "count": "200000", "more_records": "true", "next_page_token": "t"},
    }
    v8 = read({"data": [v8_job]}, ReadJobAnswer).job
    assert (v8.result.page, v8.result.count, v8.result.more_records) == (2, 200000, True)
    assert v8.result.next_page_token == "t"


def test_a_job_in_progress_has_no_result() -> None:
    job = {k: v for k, v in COMPLETED_V2.items() if k != "result"} | {"state": "IN PROGRESS"}

    assert read({"data": [job]}, ReadJobAnswer).job.result is None


@pytest.mark.parametrize(
    ("error_message", "expected"),
    [
        (
            {
                "status": "error",
                "code": "INTERNAL_SERVER_ERROR",
                "message": "Internal server error occurred.",
                "details": {},
            },
            JobError("INTERNAL_SERVER_ERROR", "Internal server error occurred."),
        ),
        ("Internal server error occurred.", "Internal server error occurred."),
    ],
)
def test_a_failed_jobs_error_message_is_an_object_or_a_string(
    error_message: Any, expected: Any
) -> None:
    job = {**COMPLETED_V2, "state": "FAILURE", "result": {"error_message": error_message}}

    assert read({"data": [job]}, ReadJobAnswer).job.result.error_message == expected


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        ({"data": [{"id": "1", "result": {}}]}, "`state`"),
        ({"data": []}, "$.data"),
        ({"info": {}}, "`data`"),
        ({"data": [{"state": "COMPLETED", "result": {"count": "many"}}]}, "$.data[0].result.count"),
    ],
)
def test_an_answer_that_does_not_fit_is_one_line_naming_what_is_wrong(
    answer: Any, named: str
) -> None:
    with pytest.raises(ZohoAPIError) as caught:
        read(answer, ReadJobAnswer)

    assert caught.value.code == "UNEXPECTED_RESPONSE"
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_cut_answer_is_one_line() -> None:
    with pytest.raises(ZohoAPIError, match="truncated"):
        decode(b'{"data": [{"state": "COMP', ReadJobAnswer, status=200, what="the answer")


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", ERRORS)
def test_every_error_envelope_zoho_shows(seed: str) -> None:
    sample = SEEDS[seed]
    expected = (sample["code"], sample["message"], sample["details"])

    assert tuple(error_of(400, json.dumps(sample).encode(), "Bad Request")) == expected
    wrapped = json.dumps({"data": [sample]}).encode()  # the action-answer form (reference §3)
    assert tuple(error_of(400, wrapped, "Bad Request")) == expected


def test_an_envelope_without_code_or_message() -> None:
    assert tuple(error_of(404, b"{}", "Not Found")) == ("HTTP_404", "no error message", None)


def test_an_error_that_is_no_envelope_is_named_by_its_status() -> None:
    assert tuple(error_of(502, b"<html>Bad gateway</html>", "Bad Gateway")) == (
        "HTTP_502",
        "Bad Gateway",
        None,
    )
    assert error_of(500, b"", "").message == "no body"


# -- OAuth ----------------------------------------------------------------------------------


def test_token_answers_modern_legacy_and_refused() -> None:
    modern = read(
        {
            "access_token": "1000.x.y",
            "scope": "ZohoCRM.bulk.read",
            "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer",
            "expires_in": 3600,
        },
        TokenAnswer,
    )
    assert (modern.access_token, modern.expires_in, modern.expires_in_sec) == (
        "1000.x.y",
        3600,
        None,
    )
    legacy = read({"access_token": "a", "expires_in_sec": 3600, "expires_in": 3600000}, TokenAnswer)
    assert legacy.expires_in_sec == 3600
    refused = read(
        {"error": "Access Denied", "error_description": "You have made too many requests"},
        TokenAnswer,
    )
    assert (refused.access_token, refused.error) == (None, "Access Denied")


# -- bulk write -----------------------------------------------------------------------------

WRITE_V21 = SEEDS["003_write_completed_v21"]


@pytest.mark.parametrize("seed", WRITE_JOBS)
def test_every_bulk_write_job_zoho_shows(seed: str) -> None:
    sample = SEEDS[seed]

    job = read(sample, WriteJob)

    assert (job.id, job.status, job.operation) == (sample["id"], sample["status"], "insert")
    assert job.download_url == sample.get("result", {}).get("download_url")
    (resource,) = job.resource
    module = sample["resource"][0]["module"]
    name = module if isinstance(module, str) else module["api_name"]
    assert module_names(resource.module)[0] == name
    assert [m.api_name for m in resource.field_mappings] == [
        m["api_name"] for m in sample["resource"][0]["field_mappings"]
    ]
    if "total_count" in sample["resource"][0]["file"]:
        assert resource.file.total_count == sample["resource"][0]["file"]["total_count"]


def test_a_write_job_of_v21() -> None:
    job = read(WRITE_V21, WriteJob)

    assert (job.id, job.status, job.ignore_empty) == ("4150868000005350003", "COMPLETED", True)
    assert job.download_url == WRITE_V21["result"]["download_url"]  # type: ignore[index]
    (resource,) = job.resource
    assert module_names(resource.module) == ("Leads", "4150868000000002175")
    assert resource.file.total_count == 11
    assert resource.field_mappings[0].index == 2


def test_a_write_job_of_v2_added_with_a_string_module_and_few_keys() -> None:
    job = read(
        {
            "status": "ADDED",
            "resource": [{"status": "ADDED", "type": "data", "module": "Deals", "file": {}}],
            "id": 4150868000005350003,
            "operation": "insert",
            "created_time": "2021-05-11T12:38:29+05:30",
        },
        WriteJob,
    )

    assert job.id == 4150868000005350003
    assert job.download_url is None
    assert job.character_encoding is job.callback is job.ignore_empty is None
    assert module_names(job.resource[0].module) == ("Deals", None)
    assert job.resource[0].file.added_count is None
    assert module_names(ModuleRef(id=5, api_name="Leads")) == ("Leads", "5")
