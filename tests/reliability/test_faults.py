"""Every fault of issue 7 against the simulator: the exact record set, or a clear error and a
STATE from which a rerun completes the set.

Two modules of three pages each run concurrently, so faults land while other jobs are in flight.
Faults aimed at one page use a single module, whose calls come in a fixed order: create page 1,
create page 2 once page 1 is complete, download page 1, create page 3, download page 2, ...
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import (
    CliRun,
    assert_clear_error,
    assert_exact,
    duplicates,
    expected_ids,
    run_tap,
)
from tests.tap.harness import config_for, simulator, sync, sync_failing

MODULES = ["Contacts", "Leads"]
PAGE = 25  # the page size of the `sim` fixture, which holds 70 records per module
ENDPOINTS = ["token", "modules", "fields", "create", "poll", "download"]


def fired(sim: Simulator) -> dict[str, int]:
    return sim.stats()["faults_fired"]  # type: ignore[return-value]


@pytest.mark.parametrize("status", ["500", "502", "503"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_server_error_bursts_on_every_endpoint(sim: Simulator, endpoint: str, status: str) -> None:
    spec = f"{endpoint}:{status}:first=3"
    sim.faults.add(spec)
    assert_exact(sync(config_for(sim, modules=MODULES)), sim, MODULES)
    assert fired(sim) == {spec: 3}


@pytest.mark.parametrize(
    "spec",
    [
        "create:429:first=3",
        "poll:429:first=3",
        "download:429:first=3",
        "token:429:first=3",
        "token:throttle:first=3",
    ],
)
def test_throttling_is_waited_out(sim: Simulator, spec: str) -> None:
    sim.faults.add(spec)
    assert_exact(sync(config_for(sim, modules=MODULES)), sim, MODULES)
    assert fired(sim) == {spec: 3}


def test_errors_scattered_over_every_kind_of_call(sim: Simulator) -> None:
    sim.faults.add("any:503:every=3")
    sim.faults.add("any:429:every=7")
    assert_exact(sync(config_for(sim, modules=MODULES)), sim, MODULES)
    assert fired(sim)["any:503:every=3"] >= 5


@pytest.mark.parametrize("trigger", ["first=2", "every=2"])
def test_connection_reset_mid_download(sim: Simulator, trigger: str) -> None:
    # One module: its downloads come one after another, so every=2 hits each page at most once.
    sim.faults.add(f"download:reset:{trigger}")
    assert_exact(sync(config_for(sim, modules=["Contacts"])), sim, ["Contacts"])
    assert fired(sim)[f"download:reset:{trigger}"] >= 2


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
@pytest.mark.parametrize(("trigger", "modules"), [("once", MODULES), ("every=2", ["Contacts"])])
def test_damaged_zip_is_downloaded_again(
    sim: Simulator,
    damage: str,
    trigger: str,
    modules: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = f"download:{damage}:{trigger}"
    sim.faults.add(spec)
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(sim, modules=modules))
    assert_exact(result, sim, modules)
    retried = [r for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(retried) == fired(sim)[spec] >= 1


def test_a_result_damaged_in_every_download_stops_clearly_and_the_rerun_completes(
    sim: Simulator, tmp_path: Path
) -> None:
    # Downloads 2 to 4 are page 2's three attempts.
    for nth in (2, 3, 4):
        sim.faults.add(f"download:truncate:nth={nth}")
    config = config_for(sim, modules=["Contacts"])
    failed = run_tap(tmp_path, config)
    assert_clear_error(failed, "damaged in 3 downloads", "page 2", "resumes")
    assert_rerun_completes(sim, tmp_path, failed, "Contacts", emitted_pages=1)


@pytest.mark.parametrize("spec", ["create:fail-job:nth=2", "fail-module:Contacts"])
def test_failed_job_stops_clearly_and_the_rerun_completes(
    sim: Simulator, tmp_path: Path, spec: str
) -> None:
    sim.faults.add(spec)
    config = config_for(sim, modules=["Contacts"])
    failed = run_tap(tmp_path, config)
    assert_clear_error(failed, "Contacts' failed", "INTERNAL_SERVER_ERROR")
    emitted_pages = 1 if spec.startswith("create") else 0  # the job of page 2, or every job
    assert_rerun_completes(sim, tmp_path, failed, "Contacts", emitted_pages=emitted_pages)


def test_retries_running_out_stop_clearly_and_the_rerun_completes(
    sim: Simulator, tmp_path: Path
) -> None:
    for nth in (2, 3, 4):
        sim.faults.add(f"download:503:nth={nth}")
    config = config_for(sim, modules=["Contacts"], request_max_tries=3)
    failed = run_tap(tmp_path, config)
    assert_clear_error(failed, "Zoho API error 503")
    assert_rerun_completes(sim, tmp_path, failed, "Contacts", emitted_pages=1)


def assert_rerun_completes(
    sim: Simulator, tmp_path: Path, failed: CliRun, module: str, *, emitted_pages: int
) -> None:
    """Without the fault, a rerun from the failed run's STATE leaves no record out."""
    first = failed.result.ids(module)
    assert len(first) == emitted_pages * PAGE
    sim.faults.clear()
    rerun = run_tap(tmp_path, config_for(sim, modules=[module]), state=failed.state)
    assert rerun.returncode == 0, rerun.stderr
    assert set(first) | set(rerun.result.ids(module)) == expected_ids(sim, module)
    # At-least-once: the page being emitted when the run stopped comes again, nothing more.
    assert duplicates(first + rerun.result.ids(module)) <= PAGE


@pytest.mark.parametrize("version", ["v7", "v8"])
def test_expired_page_token_restarts_the_window(
    sim: Simulator, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim.faults.add("create:expire-page-token:nth=2")
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(sim, modules=["Contacts"], api_version=version))
    ids = result.ids("Contacts")
    assert set(ids) == expected_ids(sim, "Contacts")
    assert duplicates(ids) == PAGE  # page 1 was emitted before the token was refused
    assert any("exporting the window again" in r.getMessage() for r in caplog.records)


def test_page_tokens_that_never_last_stop_clearly_and_the_rerun_completes(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.faults.add("create:expire-page-token:always")
    failed = run_tap(tmp_path, config_for(sim, modules=["Contacts"]))
    assert_clear_error(failed, "refused the page_token of 'Contacts' 4 times")
    sim.faults.clear()
    rerun = run_tap(tmp_path, config_for(sim, modules=["Contacts"]), state=failed.state)
    assert rerun.returncode == 0, rerun.stderr
    emitted = failed.result.ids("Contacts") + rerun.result.ids("Contacts")
    assert set(emitted) == expected_ids(sim, "Contacts")


@pytest.mark.parametrize(
    "spec", ["create:expire-token:nth=2", "poll:expire-token:nth=3", "download:expire-token:nth=2"]
)
def test_token_expiring_mid_run(sim: Simulator, spec: str) -> None:
    sim.faults.add(spec)
    assert_exact(sync(config_for(sim, modules=MODULES)), sim, MODULES)
    assert fired(sim) == {spec: 1}
    assert sim.stats()["token_requests"] == 2


def test_tokens_shorter_lived_than_the_run_are_renewed() -> None:
    # Three pages of 0.8 s each: the run outlives two one-second tokens.
    options = {"token_lifetime": 1, "job_seconds": 0.8}
    with simulator(seed=22, records=3 * PAGE, page_size=PAGE, **options) as sim:
        assert_exact(sync(config_for(sim, modules=MODULES)), sim, MODULES)
        requests = sim.stats()["token_requests"]
        assert isinstance(requests, int)
        assert requests >= 3


def test_one_failing_module_does_not_waste_the_others() -> None:
    # Deals' job fails for good while Leads' pages (paid for) wait behind Accounts: Accounts and
    # Leads are still emitted whole with their STATE, the run ends naming Deals, and once it has
    # ended nothing more is asked of Zoho.
    per_module = {"Accounts": 10_000, "Deals": 50, "Leads": 2_000}
    with simulator(seed=23, records=0, per_module=per_module, page_size=200) as sim:
        sim.faults.add("fail-module:Deals")
        result, failed = sync_failing(config_for(sim, modules=list(per_module)))
        assert list(failed.failures) == ["Deals"]
        assert "Deals" in failed.failures["Deals"]
        assert_exact(result, sim, ["Accounts", "Leads"])
        assert result.records["Deals"] == []
        bookmarks = result.state["bookmarks"]
        assert "bulk_job" not in bookmarks["Leads"]
        assert bookmarks["Leads"]["replication_key_value"]
        assert "replication_key_value" not in bookmarks["Deals"]
        assert bookmarks["Deals"]["bulk_job"]["page"] == 1  # taken back (and restarted) next run
        calls = sim.stats()["calls"]
        exports = [t for t in threading.enumerate() if t.name.startswith("export-")]
        for thread in exports:
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in exports)
        assert sim.stats()["calls"] == calls
