"""Frequent syncs for almost nothing: small windows are read through COQL, large ones and first
runs through Bulk Read, and a record comes out the same whichever way it came.

The tap runs as a process against the simulator, whose jobs here take 60 simulated seconds of
real time: a run that waited for one would show it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import CliRun, expected_ids, run_tap, tap_command
from tests.tap.harness import config_for, next_second, parse_messages, simulator

MODULES = ["Accounts", "Deals", "Leads"]


@pytest.fixture
def sim() -> Simulator:
    with simulator(seed=41, records=300) as sim:
        yield sim


def spent(sim: Simulator, before: dict[str, Any]) -> tuple[int, dict[str, int]]:
    now = sim.stats()
    calls = {k: v - before["calls"].get(k, 0) for k, v in now["calls"].items()}  # type: ignore[union-attr]
    credits = now["credits_used"] - before["credits_used"]  # type: ignore[operator]
    return credits, {k: v for k, v in calls.items() if v}


def first_run(sim: Simulator, tmp_path: Path, **overrides: Any) -> CliRun:
    run = run_tap(tmp_path, config_for(sim, modules=MODULES, **overrides))
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_the_first_run_reads_through_bulk_read(sim: Simulator, tmp_path: Path) -> None:
    before = sim.stats()
    first_run(sim, tmp_path)
    _, calls = spent(sim, before)
    assert calls["create"] == len(MODULES)
    assert "coql" not in calls


def test_a_rerun_with_nothing_new_costs_a_credit_per_module_and_no_job(
    sim: Simulator, tmp_path: Path
) -> None:
    first = first_run(sim, tmp_path)
    next_second()
    before = sim.stats()
    config = config_for(sim, modules=MODULES, track_deletions=False)
    rerun = run_tap(tmp_path, config, state=first.state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    credits, calls = spent(sim, before)
    assert "create" not in calls, calls
    assert calls["coql"] == len(MODULES)
    # Reading records: one COQL call of 200 per module (fields and modules metadata aside).
    assert credits - calls.get("fields", 0) - calls.get("modules", 0) == len(MODULES)
    assert all(not rerun.result.ids(m) for m in MODULES)


def test_ten_new_records_per_module_take_seconds_and_a_few_credits(tmp_path: Path) -> None:
    with simulator(seed=42, records=200, job_seconds=60.0) as slow:
        first = run_tap(tmp_path, config_for(slow, modules=MODULES, job_timeout_seconds=300))
        assert first.returncode == 0, first.stderr[-3000:]
        added = slow.mutate(add=10)
        next_second()
        before = slow.stats()
        started = time.monotonic()
        config = config_for(slow, modules=MODULES, track_deletions=False)
        rerun = run_tap(tmp_path, config, state=first.state)
        elapsed = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    credits, calls = spent(slow, before)
    assert "create" not in calls
    assert elapsed < 30, elapsed  # a Bulk Read job here takes 60 s
    assert credits - calls.get("fields", 0) - calls.get("modules", 0) <= 5 * len(MODULES)
    for module in MODULES:
        assert len(rerun.result.ids(module)) == added[module]["added"] == 10


def test_a_large_window_still_goes_through_bulk_read(sim: Simulator, tmp_path: Path) -> None:
    first = first_run(sim, tmp_path)
    sim.mutate(add={"Leads": 20_500})
    next_second()
    before = sim.stats()
    rerun = run_tap(tmp_path, config_for(sim, modules=["Leads"]), state=first.state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _, calls = spent(sim, before)
    assert calls["create"] == 1
    assert calls["coql"] == 2  # the first 200, then the record past 20,000 that exists
    assert len(set(rerun.result.ids("Leads"))) == 20_500
    assert "more than 20000 records in the window; reading it through Bulk Read" in rerun.stderr


def record_lines(run: CliRun, stream: str) -> dict[str, str]:
    """Each RECORD of a stream as the exact JSON it was written as, time_extracted left out."""
    lines = {}
    for line in run.stdout.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD" and message["stream"] == stream:
            message.pop("time_extracted", None)
            lines[message["record"]["Id"]] = json.dumps(message, sort_keys=True)
    return lines


@pytest.mark.parametrize("module", ["Leads", "Deals", "Accounts", "Contacts", "Tasks"])
def test_a_window_read_both_ways_gives_the_same_record_lines(
    sim: Simulator, tmp_path: Path, module: str
) -> None:
    """Every data type the simulator has (booleans, integers, exact decimals, date-times,
    multi-selects, lookups and their dot-notation columns, formulas) read through COQL and
    through Bulk Read from the same STATE."""
    config = config_for(sim, modules=[module], replication_key="Modified_Time")
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    sim.mutate(add=20, modify=40)
    next_second()
    runs = {}
    for mode in ("coql", "bulk"):
        (tmp_path / mode).mkdir()
        runs[mode] = run_tap(tmp_path / mode, {**config, "read_mode": mode}, state=first.state)
        assert runs[mode].returncode == 0, runs[mode].stderr[-3000:]
    assert "read through COQL" in runs["coql"].stderr
    coql, bulk = record_lines(runs["coql"], module), record_lines(runs["bulk"], module)
    assert len(bulk) >= 60
    assert coql == bulk


def test_a_run_killed_in_a_coql_window_is_completed_by_the_next(
    sim: Simulator, tmp_path: Path
) -> None:
    config = config_for(sim, modules=["Leads"], read_mode="coql", track_deletions=False)
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    sim.mutate(add={"Leads": 9_000})
    next_second()
    sim.faults.add("coql:slow=1.5:always")  # so that the kill lands between two pages
    process = subprocess.Popen(
        tap_command(tmp_path, config, first.state),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        bufsize=0,
    )
    assert process.stdout is not None
    seen = b""
    while b'"type":"RECORD"' not in seen.replace(b" ", b""):
        chunk = process.stdout.read(4096)
        assert chunk, "the tap ended before its first record"
        seen += chunk
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    sim.faults.clear()
    killed = parse_messages(seen.decode(errors="replace").rsplit("\n", 1)[0])
    assert len(killed.ids("Leads")) < 9_000  # killed in the middle of the window
    rerun = run_tap(tmp_path, config, state=killed.state or first.state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    got = set(first.result.ids("Leads")) | set(killed.ids("Leads")) | set(rerun.result.ids("Leads"))
    assert got == expected_ids(sim, "Leads")
