"""Settings and STATE that would burn credits or crash: one line, a non-zero exit, no call.

Each bad input runs the tap as a process against the simulator, which counts every call it
receives; the refusal must come before the first one (the token request included), so a typo
in a config or a hand-edited state never costs a credit. The runs pass a catalog, as Meltano
does: without one, singer-sdk discovers streams inside `Tap.__init__`, before the tap's own
checks (see the expected failures at the end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.errors import ConfigError
from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer.state import check_state
from tests.reliability.support import CliRun, assert_clear_error, run_tap
from tests.tap.harness import config_for, discover, simulator

ONE_MODULE = {"modules": ["Leads"]}


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Discovered once from an identical simulated org, so no test's simulator sees it."""
    with simulator(seed=21, records=70, page_size=25) as other:
        catalog = discover(config_for(other, **ONE_MODULE))
    path = tmp_path_factory.mktemp("catalog") / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def run_with_catalog(
    tmp_path: Path, config: dict[str, Any], catalog: Path, state: dict[str, Any] | None = None
) -> CliRun:
    return run_tap(tmp_path, config, state=state, args=["--catalog", str(catalog)])


def assert_nothing_called(sim: Simulator) -> None:
    stats = sim.stats()
    assert stats["calls"] == {}
    assert stats["credits_used"] == 0
    assert stats["jobs"] == []


def assert_ran(run: CliRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr
    assert [line for line in run.stderr.splitlines() if " ERROR " in line] == []


BAD_SETTINGS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"poll_interval_min_seconds": 0}, ("poll_interval_min_seconds=0", "> 0")),
    ({"poll_interval_min_seconds": -1.5}, ("poll_interval_min_seconds=-1.5", "> 0")),
    ({"poll_interval_min_seconds": None}, ("poll_interval_min_seconds=null", "> 0")),
    ({"poll_interval_max_seconds": 0}, ("poll_interval_max_seconds=0", "> 0")),
    (
        {"poll_interval_min_seconds": 5, "poll_interval_max_seconds": 1},
        ("poll_interval_min_seconds=5", "poll_interval_max_seconds=1"),
    ),
    ({"job_timeout_seconds": 0}, ("job_timeout_seconds=0", "> 0")),
    ({"job_timeout_seconds": -60}, ("job_timeout_seconds=-60", "> 0")),
    ({"downloads_per_minute": 0}, ("downloads_per_minute=0", ">= 1")),
    ({"max_concurrent_jobs": 0}, ("max_concurrent_jobs=0", ">= 1")),
    ({"max_concurrent_jobs": None}, ("max_concurrent_jobs=null", ">= 1")),
    ({"multiselect_separator": ""}, ('multiselect_separator=""', "non-empty")),
    ({"multiselect_separator": None}, ("multiselect_separator=null", "non-empty")),
    ({"request_max_tries": 0}, ("request_max_tries=0", ">= 1")),
    ({"request_max_tries": None}, ("request_max_tries=null", ">= 1")),
    ({"request_backoff_base_seconds": -1}, ("request_backoff_base_seconds=-1", ">= 0")),
    (
        {"request_backoff_base_seconds": 10, "request_backoff_max_seconds": 5},
        ("request_backoff_base_seconds=10", "request_backoff_max_seconds=5"),
    ),
    ({"max_credits_per_run": -1}, ("max_credits_per_run=-1", ">= 0")),
    ({"simulator_records": -1}, ("simulator_records=-1", ">= 0")),
]


@pytest.mark.parametrize(
    ("overrides", "fragments"), BAD_SETTINGS, ids=[repr(o) for o, _ in BAD_SETTINGS]
)
def test_bad_setting_is_refused_before_any_call(
    sim: Simulator,
    tmp_path: Path,
    catalog_file: Path,
    overrides: dict[str, Any],
    fragments: tuple[str, ...],
) -> None:
    run = run_with_catalog(tmp_path, config_for(sim, **ONE_MODULE, **overrides), catalog_file)
    assert_clear_error(run, *fragments)
    assert_nothing_called(sim)


def test_setting_of_the_wrong_json_type_is_refused_by_the_schema(
    sim: Simulator, tmp_path: Path, catalog_file: Path
) -> None:
    # singer-sdk's own schema check: one line for the setting, then a summary line.
    config = config_for(sim, **ONE_MODULE, poll_interval_min_seconds="abc")
    run = run_with_catalog(tmp_path, config, catalog_file)
    assert_clear_error(run, "poll_interval_min_seconds", "'abc'")
    assert_nothing_called(sim)


def leads(stream_state: Any) -> dict[str, Any]:
    return {"bookmarks": {"Leads": stream_state}}


JOB = {"job_id": "4384000000123001", "page": 1}
WINDOW = ["2025-06-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"]

BAD_STATES: list[tuple[str, dict[str, Any], str]] = [
    ("replication_key-number", leads({"replication_key": 5}), "replication_key"),
    (
        "replication_key_value-number",
        leads({"replication_key": "Created_Time", "replication_key_value": 1700000000}),
        "replication_key_value",
    ),
    (
        "replication_key_value-words",
        leads({"replication_key": "Created_Time", "replication_key_value": "yesterday"}),
        "replication_key_value",
    ),
    ("bookmark_ids-string", leads({"bookmark_ids": "4384000000001"}), "bookmark_ids"),
    ("bookmark_ids-numbers", leads({"bookmark_ids": [4384000000001]}), "bookmark_ids"),
    ("bulk_job-string", leads({"bulk_job": "4384000000123001"}), "bulk_job"),
    ("bulk_job-no-job_id", leads({"bulk_job": {"page": 1}}), "job_id"),
    ("bulk_job-empty-job_id", leads({"bulk_job": {"job_id": "", "page": 1}}), "job_id"),
    ("bulk_job-number-job_id", leads({"bulk_job": {"job_id": 4384, "page": 1}}), "job_id"),
    ("bulk_job-no-page", leads({"bulk_job": {"job_id": "4384"}}), "page"),
    ("bulk_job-page-0", leads({"bulk_job": {**JOB, "page": 0}}), "page"),
    ("bulk_job-page-string", leads({"bulk_job": {**JOB, "page": "2"}}), "page"),
    ("bulk_job-page-true", leads({"bulk_job": {**JOB, "page": True}}), "page"),
    ("bulk_job-page-float", leads({"bulk_job": {**JOB, "page": 2.0}}), "page"),
    ("window-string", leads({"bulk_job": {**JOB, "window": "2025"}}), "window"),
    ("window-one-item", leads({"bulk_job": {**JOB, "window": WINDOW[:1]}}), "window"),
    ("window-three-items", leads({"bulk_job": {**JOB, "window": [*WINDOW, None]}}), "window"),
    ("window-no-end", leads({"bulk_job": {**JOB, "window": [WINDOW[0], None]}}), "window"),
    (
        "window-bad-start",
        leads({"bulk_job": {**JOB, "window": ["last week", WINDOW[1]]}}),
        "window",
    ),
    ("later_jobs-string", leads({"bulk_job": {**JOB, "later_jobs": "x"}}), "later_jobs"),
    ("later_jobs-strings", leads({"bulk_job": {**JOB, "later_jobs": ["4384"]}}), "later_jobs"),
    (
        "later_jobs-no-page",
        leads({"bulk_job": {**JOB, "later_jobs": [{"job_id": "4384"}]}}),
        "later_jobs",
    ),
    (
        "later_jobs-number-job_id",
        leads({"bulk_job": {**JOB, "later_jobs": [{"job_id": 4384, "page": 1}]}}),
        "later_jobs",
    ),
    ("progress_markers-list", leads({"progress_markers": []}), "progress_markers"),
    ("partitions-object", leads({"partitions": {}}), "partitions"),
    ("partitions-numbers", leads({"partitions": [1]}), "partitions"),
]


@pytest.mark.parametrize(
    ("state", "key"), [(s, k) for _, s, k in BAD_STATES], ids=[i for i, _, _ in BAD_STATES]
)
def test_malformed_state_is_refused_before_any_call(
    sim: Simulator, tmp_path: Path, catalog_file: Path, state: dict[str, Any], key: str
) -> None:
    run = run_with_catalog(tmp_path, config_for(sim, **ONE_MODULE), catalog_file, state)
    assert_clear_error(run, "State for stream 'Leads'", key)
    assert_nothing_called(sim)


VALID_STATES: list[tuple[str, dict[str, Any]]] = [
    ("empty", {}),
    ("no-bookmarks", {"bookmarks": {}}),
    (
        "bookmark",
        leads(
            {
                "replication_key": "Created_Time",
                "replication_key_value": "2025-06-01T00:00:00Z",
                "bookmark_ids": ["4384000000001"],
                "progress_markers": {"Note": "Progress is not resumable if interrupted."},
                "partitions": [],
                "written_by_a_later_version": {"anything": 1},
            }
        ),
    ),
    (
        "old-style-bulk_job",
        leads(
            {
                "replication_key": "Created_Time",
                "replication_key_value": "2025-06-01T02:00:00+02:00",
                "bulk_job": {**JOB, "window": WINDOW},
            }
        ),
    ),
    (
        "new-style-bulk_job",
        leads(
            {
                "replication_key": "Created_Time",
                "replication_key_value": "2025-06-01T00:00:00",
                "bulk_job": {
                    **JOB,
                    "page": 2,
                    "window": [None, WINDOW[1]],
                    "later_jobs": [{"job_id": "4384000000123002", "page": 1}],
                },
            }
        ),
    ),
]


@pytest.mark.parametrize("state", [s for _, s in VALID_STATES], ids=[i for i, _ in VALID_STATES])
def test_valid_state_is_accepted(
    sim: Simulator, tmp_path: Path, catalog_file: Path, state: dict[str, Any]
) -> None:
    assert_ran(run_with_catalog(tmp_path, config_for(sim, **ONE_MODULE), catalog_file, state))


# singer-sdk's `Tap.__init__` walks `bookmarks` and each stream's state with `.items()` (and
# reads a non-object STATE as a file path): the tap checks them before it does.
SHAPES_THE_SDK_READS_FIRST: list[tuple[str, Any, str]] = [
    ("state-list", [{"bookmarks": {}}], "State is"),
    ("bookmarks-list", {"bookmarks": []}, "State bookmarks"),
    ("bookmarks-null", {"bookmarks": None}, "State bookmarks"),
    ("stream-list", leads([]), "State for stream 'Leads'"),
    ("stream-null", leads(None), "State for stream 'Leads'"),
]


@pytest.mark.parametrize(
    ("state", "fragment"),
    [(s, f) for _, s, f in SHAPES_THE_SDK_READS_FIRST],
    ids=[i for i, _, _ in SHAPES_THE_SDK_READS_FIRST],
)
def test_check_state_refuses_shapes_the_sdk_reads_first(state: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        check_state(state)


@pytest.mark.parametrize(
    ("state", "fragment"),
    [(s, f) for _, s, f in SHAPES_THE_SDK_READS_FIRST],
    ids=[i for i, _, _ in SHAPES_THE_SDK_READS_FIRST],
)
def test_shapes_the_sdk_reads_first_are_refused_in_one_line(
    sim: Simulator, tmp_path: Path, catalog_file: Path, state: Any, fragment: str
) -> None:
    run = run_with_catalog(tmp_path, config_for(sim, **ONE_MODULE), catalog_file, state)
    assert_clear_error(run, fragment)
    assert_nothing_called(sim)


@pytest.mark.parametrize(
    ("config", "state"),
    [({"job_timeout_seconds": 0}, None), ({}, leads({"bulk_job": {"job_id": "4384"}}))],
    ids=["setting", "state"],
)
def test_bad_input_without_a_catalog_costs_nothing(
    sim: Simulator, tmp_path: Path, config: dict[str, Any], state: dict[str, Any] | None
) -> None:
    run = run_tap(tmp_path, config_for(sim, **ONE_MODULE, **config), state=state)
    assert run.returncode != 0
    assert_nothing_called(sim)
