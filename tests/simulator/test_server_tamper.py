"""Data and job faults (result files rewritten in content, one failing job) and the record of
issued access tokens."""

from __future__ import annotations

import csv
import io
import zipfile
import zlib

import pytest

from tap_zoho_bulk.simulator.faults import FaultSpecError, parse_fault
from tap_zoho_bulk.simulator.tamper import ADDED_COLUMN, BAD_VALUE, EXTRA_MEMBER


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))


def clean_and_faulty(api, action: str) -> tuple[str, bytes, bytes]:
    """The result of one Leads job, downloaded once with the fault and once without."""
    job_id = api.create_id("v8", {"module": "Leads"})
    api.sim.faults.add(f"download:{action}:once")
    faulty = api.download("v8", job_id)
    clean = api.download("v8", job_id)
    assert faulty.status_code == clean.status_code == 200
    assert api.sim.stats()["faults_fired"] == {f"download:{action}:once": 1}
    return job_id, clean.content, faulty.content


def csv_pair(api, action: str) -> tuple[list[list[str]], list[list[str]]]:
    """The rows of one page without and with a CSV fault."""
    job_id, clean, faulty = clean_and_faulty(api, action)
    return rows_of(member(clean, f"{job_id}.csv")), rows_of(member(faulty, f"{job_id}.csv"))


def member(content: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == [name]
        return archive.read(name)


@pytest.mark.parametrize("action", ["bad-row", "extra-column", "zip-bomb", "corrupt"])
def test_data_faults_apply_to_downloads_only(action):
    assert parse_fault(f"download:{action}:once").action == action  # type: ignore[union-attr]
    with pytest.raises(FaultSpecError, match="only applies to downloads"):
        parse_fault(f"poll:{action}")
    with pytest.raises(FaultSpecError, match="only applies to downloads"):
        parse_fault(f"any:{action}")


def test_bad_row_gives_one_row_an_extra_cell(api):
    before, after = csv_pair(api, "bad-row")
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    (index,) = changed
    assert 1 < index < len(before) - 1  # rows before and after it are untouched
    assert after[index][:-1] == before[index]
    assert len(after[index]) == len(before[0]) + 1


def test_bad_value_puts_text_in_one_typed_cell(api):
    before, after = csv_pair(api, "bad-value")
    cells = [
        (r, c)
        for r, (a, b) in enumerate(zip(before, after, strict=True))
        for c, (x, y) in enumerate(zip(a, b, strict=True))
        if x != y
    ]
    assert len(cells) == 1
    ((row, column),) = cells
    assert after[row][column] == BAD_VALUE
    assert before[row][column] != ""
    types = {f.api_name: f.value_type for f in api.sim.dataset.modules["Leads"].fields}
    assert types[before[0][column]] in {"integer", "double", "currency", "boolean", "datetime"}


def test_bad_utf8_puts_invalid_bytes_into_one_text_cell(api):
    job_id, clean, faulty = clean_and_faulty(api, "bad-utf8")
    raw = member(faulty, f"{job_id}.csv")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.count(b"\xff\xfe") == 1
    assert raw.replace(b"\xff\xfe", b"") == member(clean, f"{job_id}.csv")


def test_extra_column_is_added_to_every_row(api):
    before, after = csv_pair(api, "extra-column")
    assert after[0] == [*before[0], ADDED_COLUMN]
    assert [row[:-1] for row in after[1:]] == before[1:]


def test_zip_slip_names_the_member_with_a_parent_path(api):
    job_id, clean, faulty = clean_and_faulty(api, "zip-slip")
    assert member(faulty, f"../{job_id}.csv") == member(clean, f"{job_id}.csv")


def test_extra_member_is_added(api):
    job_id, _, faulty = clean_and_faulty(api, "extra-member")
    with zipfile.ZipFile(io.BytesIO(faulty)) as archive:
        assert archive.namelist() == [f"{job_id}.csv", EXTRA_MEMBER]


def test_zip_bomb_inflates_hundreds_of_times_its_size(api):
    job_id, clean, faulty = clean_and_faulty(api, "zip-bomb")
    with zipfile.ZipFile(io.BytesIO(faulty)) as archive:
        (info,) = archive.infolist()
        assert info.file_size / info.compress_size > 500
        assert archive.read(info).rstrip(b"\n") == member(clean, f"{job_id}.csv").rstrip(b"\n")


def test_corrupt_keeps_the_directory_but_damages_the_data(api):
    job_id, clean, faulty = clean_and_faulty(api, "corrupt")
    assert len(faulty) == len(clean)
    with zipfile.ZipFile(io.BytesIO(faulty)) as archive:
        assert archive.namelist() == [f"{job_id}.csv"]
        with pytest.raises((zipfile.BadZipFile, zlib.error)):
            archive.read(f"{job_id}.csv")


def test_data_faults_leave_error_replies_alone(api):
    api.token()
    api.sim.faults.add("download:bad-row:once")
    missing = api.download("v8", "4150868000009999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "RESOURCE_NOT_FOUND"


def test_issued_access_tokens_are_all_on_record(api):
    first = api.token()
    api.sim.expire_tokens()
    second = api.token(fresh=True)
    assert api.sim.app.tokens.issued_values() == [first, second]


def test_fail_job_fails_only_the_job_of_the_chosen_create_call(api):
    api.sim.faults.add("create:fail-job:nth=2")
    states = [api.job("v8", api.create_id("v8", {"module": "Leads"}))["state"] for _ in range(3)]
    assert states == ["COMPLETED", "FAILURE", "COMPLETED"]
    with pytest.raises(FaultSpecError, match="only applies to job creation"):
        parse_fault("poll:fail-job")
