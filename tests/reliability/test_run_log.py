"""What the log says of a run is what the run did: counts of what was emitted, credits named
for what they count, one summary line per stream and a total, and no warning that contradicts
the tap's resume."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import CliRun, run_tap
from tests.tap.harness import config_for, next_second, simulator

MODULES = ["Accounts", "Leads"]
SUMMARY = re.compile(r"Summary of '(?P<stream>[^']+)'(?P<failed> \(FAILED\))?: (?P<text>.*)$")
TOTAL = re.compile(r"Summary of the run \((?P<ending>\w+)\): (?P<text>.*)$")


@pytest.fixture
def sim() -> Simulator:
    with simulator(seed=8, records=40) as sim:
        yield sim


def summaries(run: CliRun) -> dict[str, str]:
    found = {}
    for line in run.stderr.splitlines():
        if match := SUMMARY.search(line):
            found[match["stream"] + (match["failed"] or "")] = match["text"]
    return found


def total(run: CliRun) -> tuple[str, str]:
    lines = [m for line in run.stderr.splitlines() if (m := TOTAL.search(line))]
    assert len(lines) == 1, run.stderr[-3000:]
    return lines[0]["ending"], lines[0]["text"]


def credits_used(sim: Simulator) -> int:
    return int(sim.stats()["credits_used"])  # type: ignore[call-overload]


def test_the_summary_counts_what_was_emitted_and_spent(sim: Simulator, tmp_path: Path) -> None:
    before = credits_used(sim)
    run = run_tap(tmp_path, config_for(sim, modules=MODULES))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = summaries(run)
    assert set(lines) == {*MODULES, "deleted_records"}, run.stderr[-3000:]
    for module in MODULES:
        emitted = len(run.result.ids(module))
        assert lines[module].startswith(f"{emitted} records, 1 page, 1 job created, "), lines
    # One call per module for its deletions, 2 credits each; no bulk job.
    assert lines["deleted_records"].startswith(f"0 records, {2 * len(MODULES)} credits, ")
    ending, text = total(run)
    spent = credits_used(sim) - before
    assert ending == "complete"
    records = sum(len(run.result.ids(m)) for m in MODULES)
    assert text.startswith(f"{records} records in 3 streams, 2 pages, 2 jobs created, {spent} ")
    # Each create says what it cost and what the run spent so far, named as such.
    creates = re.findall(
        r"Created bulk read job \d+ for '\w+' page 1 \((\d+) credits; (\d+) spent", run.stderr
    )
    assert [int(cost) for cost, _ in creates] == [50, 50]
    assert max(int(so_far) for _, so_far in creates) <= spent


def test_no_warning_or_state_note_says_the_run_cannot_resume(
    sim: Simulator, tmp_path: Path
) -> None:
    run = run_tap(tmp_path, config_for(sim, modules=MODULES))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "not resumable" not in run.stderr.lower()
    assert "not resumable" not in run.stdout.lower()
    assert " WARNING " not in run.stderr, run.stderr[-3000:]


def test_a_page_of_records_already_emitted_is_logged_as_none_emitted(
    sim: Simulator, tmp_path: Path
) -> None:
    """The second run's window starts at the bookmark's second, so Zoho sends the records of
    that second again; the tap filters them out and must not count them as emitted."""
    config = config_for(sim, modules=["Leads"])
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    next_second()
    second = run_tap(tmp_path, config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.result.ids("Leads") == []
    assert "'Leads' page 1: 0 records emitted" in second.stderr, second.stderr[-3000:]
    # Read through COQL (read_mode auto): one call, no job.
    assert summaries(second)["Leads"].startswith("0 records, 1 page, 0 jobs created, ")


def test_a_failed_module_is_marked_in_the_summary(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.add("fail-module:Leads")
    run = run_tap(tmp_path, config_for(sim, modules=MODULES))
    assert run.returncode == 1
    lines = summaries(run)
    assert "Leads (FAILED)" in lines, run.stderr[-3000:]
    assert lines["Leads (FAILED)"].startswith("0 records, ")
    assert lines["Accounts"].startswith(f"{len(run.result.ids('Accounts'))} records, 1 page, ")
    assert total(run)[0] == "failed"
