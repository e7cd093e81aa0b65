"""The copy stays equal to Zoho: deletions reach the `deleted_records` stream, and formula and
rollup fields are refreshed on schedule although their changes never move Modified_Time.

The tap runs as a process against the simulator, whose `mutate` deletes, purges and restores
records and whose clock moves formula values (Deals.Days_Open steps at the org's midnight).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import CliRun, assert_clear_error, run_tap
from tests.tap.harness import config_for, next_second, simulator

MODULES = ["Deals", "Leads"]
DAY = 86_400


@pytest.fixture
def sim() -> Simulator:
    with simulator(seed=21, records=60) as sim:
        yield sim


def deletions(run: CliRun) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["module"], r["id"]): r for r in run.result.records["deleted_records"]}


def calls(sim: Simulator, kind: str) -> int:
    return int(sim.stats()["calls"].get(kind, 0))  # type: ignore[attr-defined]


def test_deletions_between_two_runs_are_reported_exactly(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, modules=MODULES)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.result.records["deleted_records"] == []

    binned = sim.mutate(delete={"Leads": 3})["Leads"]["deleted"]
    purged = sim.mutate(purge={"Leads": [binned[0]]})["Leads"]["purged"]
    gone = sim.mutate(delete={"Deals": 2}, permanent=True)["Deals"]["deleted"]
    assert purged == [binned[0]]
    next_second()
    before = sim.stats()
    second = run_tap(tmp_path, config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]

    found = deletions(second)
    expected_types = {
        ("Leads", binned[0]): "permanent",
        ("Leads", binned[1]): "recycle",
        ("Leads", binned[2]): "recycle",
        **{("Deals", record_id): "permanent" for record_id in gone},
    }
    assert {key: r["type"] for key, r in found.items()} == expected_types
    for record in found.values():
        assert record["deleted_time"].endswith("+00:00")
        assert record["deleted_by_id"]
    # 2 credits for each module's one call (nothing to page through).
    assert calls(sim, "deleted") - before["calls"]["deleted"] == len(MODULES)  # type: ignore[index]
    spent = sim.stats()["credits_used"] - before["credits_used"]  # type: ignore[operator]
    summary = next(line for line in second.stderr.splitlines() if "'deleted_records':" in line)
    assert f"{len(expected_types)} records, {2 * len(MODULES)} credits" in summary
    assert spent >= 2 * len(MODULES)

    # Deleted records no longer come out of Bulk Read.
    next_second()
    third = run_tap(tmp_path, {**config, "replication_key": "Modified_Time"})
    assert third.returncode == 0, third.stderr[-3000:]
    deleted_ids = {record_id for _, record_id in expected_types}
    assert not deleted_ids & set(third.result.ids("Leads") + third.result.ids("Deals"))


def test_the_deletion_bookmark_resumes_without_a_gap(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, modules=MODULES)
    first = run_tap(tmp_path, config)
    earlier = set(sim.mutate(delete={"Leads": 2})["Leads"]["deleted"])
    next_second()
    second = run_tap(tmp_path, config, state=first.state)
    assert {key[1] for key in deletions(second)} == earlier
    partitions = second.state["bookmarks"]["deleted_records"]["partitions"]
    leads = next(p for p in partitions if p["context"] == {"module": "Leads"})
    assert leads["replication_key"] == "deleted_time"
    assert leads["replication_key_value"]

    later = set(sim.mutate(delete={"Leads": 2})["Leads"]["deleted"])
    next_second()
    third = run_tap(tmp_path, config, state=second.state)
    reported = {key[1] for key in deletions(third)}
    # Every new deletion, and at most the overlap second's earlier ones again.
    assert later <= reported <= later | earlier


def test_a_record_deleted_and_restored_between_runs_is_not_reported(
    sim: Simulator, tmp_path: Path
) -> None:
    config = config_for(sim, modules=["Leads"])
    first = run_tap(tmp_path, config)
    (restored,) = sim.mutate(delete={"Leads": 1})["Leads"]["deleted"]
    sim.mutate(restore={"Leads": [restored]})
    next_second()
    second = run_tap(tmp_path, config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert deletions(second) == {}
    assert restored in first.result.ids("Leads")


def test_deletions_can_be_turned_off(sim: Simulator, tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sim, modules=MODULES, track_deletions=False))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "deleted_records" not in run.result.schemas
    assert calls(sim, "deleted") == 0


def test_zoho_failing_on_deletions_fails_the_run_after_the_modules(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.faults.add("deleted:503:always")
    run = run_tap(tmp_path, config_for(sim, modules=MODULES, request_max_tries=2))
    assert_clear_error(run, "503")
    # The module streams were emitted and their bookmarks written before.
    assert run.result.ids("Leads")
    assert run.state["bookmarks"]["Leads"]["replication_key_value"]


# -- formula and rollup drift ----------------------------------------------------------------


def days_open(run: CliRun) -> dict[str, Any]:
    return {r["Id"]: r["Days_Open"] for r in run.result.records["Deals"]}


def test_formula_values_are_refreshed_once_the_interval_has_passed(
    sim: Simulator, tmp_path: Path
) -> None:
    config = config_for(sim, modules=["Deals"], formula_refresh_hours=1)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    before = days_open(first)
    assert len(before) == 60
    refreshed_at = first.state["bookmarks"]["Deals"]["formula_refreshed_at"]

    sim.advance(2 * DAY)  # Days_Open steps twice; Modified_Time does not move
    next_second()
    within = run_tap(tmp_path, config, state=first.state)
    assert within.returncode == 0, within.stderr[-3000:]
    assert within.result.ids("Deals") == []  # within the interval: no re-export
    assert within.state["bookmarks"]["Deals"]["formula_refreshed_at"] == refreshed_at

    time.sleep(1.1)
    due = {**config, "formula_refresh_hours": 1 / 3600}  # one second
    jobs_before = calls(sim, "create")
    refresh = run_tap(tmp_path, due, state=within.state)
    assert refresh.returncode == 0, refresh.stderr[-3000:]
    after = days_open(refresh)
    assert set(after) == set(before)  # every record, those of the bookmark's second too
    assert all(after[i] == before[i] + 2 for i in before if before[i] is not None)
    assert calls(sim, "create") - jobs_before == 1
    assert "re-exporting every record to refresh its formula and rollup fields" in refresh.stderr
    assert refresh.state["bookmarks"]["Deals"]["formula_refreshed_at"] > refreshed_at


def test_modules_without_selected_formulas_are_not_refreshed(
    sim: Simulator, tmp_path: Path
) -> None:
    # Leads has formula fields (Expected_Value, Region_Label), none of them selected here.
    pinned = {"Leads": ["Last_Name", "Email"]}
    config = config_for(sim, modules=["Leads"], fields=pinned, formula_refresh_hours=1 / 3600)
    first = run_tap(tmp_path, config)
    time.sleep(1.1)
    second = run_tap(tmp_path, config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.result.ids("Leads") == []
    assert "formula_refreshed_at" not in second.state["bookmarks"]["Leads"]


def test_deletions_alone_with_no_module_stream_selected(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, modules=["Leads"])
    catalog = json.loads(run_tap(tmp_path, config, args=["--discover"]).stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == "deleted_records"
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    run = run_tap(tmp_path, config, args=["--catalog", str(catalog_file)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.result.records["deleted_records"] == []
    assert calls(sim, "deleted") == 0
