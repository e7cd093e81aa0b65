"""How a run ends: it never hangs, keeps every paid-for job in STATE, stops cleanly on a signal,
and a module that fails does not take the others down with it.

Each test runs the tap as users run it (a separate process) against the simulator, with every
wait bounded so that a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import (
    CliRun,
    assert_exact,
    expected_ids,
    run_tap,
    tap_command,
    write_json,
)
from tests.tap.harness import config_for, parse_messages, simulator

MODULES = ["Accounts", "Contacts", "Leads"]


def creates(sim: Simulator) -> int:
    return int(sim.stats()["calls"].get("create", 0))  # type: ignore[attr-defined]


def job_ids(sim: Simulator) -> list[str]:
    return [str(job["id"]) for job in sim.stats()["jobs"]]  # type: ignore[attr-defined]


def open_jobs(state: dict[str, Any], stream: str) -> list[str]:
    """The job ids a STATE names for a stream, in order."""
    job = state.get("bookmarks", {}).get(stream, {}).get("bulk_job")
    if not job:
        return []
    return [job["job_id"], *(later["job_id"] for later in job.get("later_jobs", []))]


def run_with_timeout(
    tmp_path: Path, config: dict[str, Any], seconds: float, state: dict[str, Any] | None = None
) -> CliRun:
    """The tap as a process that must end within `seconds` (a hang fails the test)."""
    process = subprocess.Popen(
        tap_command(tmp_path, config, state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"the tap was still running after {seconds}s:\n{stderr[-3000:]}")
    return CliRun(process.returncode, stdout, stderr)


def run_advancing(
    tmp_path: Path, sim: Simulator, config: dict[str, Any], state: dict[str, Any]
) -> CliRun:
    """A run in which every slow job finishes: the simulated clock jumps 11 minutes at a time
    (well within the day Zoho keeps page tokens and results)."""
    command = tap_command(tmp_path, config, state)
    out, err = tmp_path / "advancing.stdout", tmp_path / "advancing.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            sim.advance(660)
            time.sleep(0.2)
        if process.poll() is None:
            process.kill()
            process.wait(10)
            pytest.fail(f"the tap was still running after 90s:\n{err.read_text()[-3000:]}")
    return CliRun(process.returncode, out.read_text(), err.read_text())


class Tap:
    """A tap process whose output is read line by line while it runs."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], state: dict[str, Any] | None = None):
        command = tap_command(tmp_path, config, state)
        self.stderr_path = tmp_path / "tap.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr)
        self.lines: list[bytes] = []

    def read_until(self, wanted: str, seconds: float) -> dict[str, Any]:
        """Read messages until one of type `wanted` whose text matches; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            message = json.loads(line)
            if message["type"] == "STATE" and wanted == "STATE with a job":
                if any(open_jobs(message["value"], s) for s in message["value"]["bookmarks"]):
                    return message  # type: ignore[no-any-return]
            elif message["type"] == wanted:
                return message  # type: ignore[no-any-return]
        pytest.fail(f"no {wanted} within {seconds}s:\n{self.stderr()[-3000:]}")

    def finish(self, seconds: float) -> CliRun:
        """Read the rest of the output (through the same buffered reader: `communicate` with
        a timeout would skip what it has read ahead) and wait for the exit."""
        stdout = self.process.stdout
        assert stdout is not None
        rest: list[bytes] = []
        reader = threading.Thread(target=lambda: rest.append(stdout.read()), daemon=True)
        reader.start()
        reader.join(seconds)
        try:
            self.process.wait(timeout=1 if not reader.is_alive() else 0.1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            pytest.fail(f"the tap did not end within {seconds}s:\n{self.stderr()[-3000:]}")
        reader.join(10)
        self._stderr.close()
        output = b"".join(self.lines) + b"".join(rest)
        return CliRun(self.process.returncode, output.decode(), self.stderr())

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    """Jobs of ten simulated minutes: they finish only when the test moves the clock."""
    with simulator(seed=41, records=30, page_size=10, job_seconds=600.0) as sim:
        yield sim


# -- 1. no hang, whatever the settings --------------------------------------------------------


@pytest.mark.parametrize("max_jobs", [1, 2])
def test_few_job_slots_and_many_pages_never_hang(tmp_path: Path, max_jobs: int) -> None:
    # 3 modules x 6 pages: the modules not being emitted fill their pages ahead and must wait
    # without holding a job slot, or the module being emitted never gets one.
    with simulator(seed=42, records=60, page_size=10) as sim:
        config = config_for(sim, modules=MODULES, max_concurrent_jobs=max_jobs)
        run = run_with_timeout(tmp_path, config, seconds=90)
        assert run.returncode == 0, run.stderr[-3000:]
        assert_exact(run.result, sim, MODULES)
        assert creates(sim) == 3 * 6  # one job per page, none paid twice


# -- 2. retryable failures never shrink the catalog -------------------------------------------


@pytest.mark.parametrize("fault", ["fields:503:nth=3", "fields:429:nth=3", "fields:reset:nth=3"])
@pytest.mark.parametrize("mode", ["sync", "discover"])
def test_a_failing_field_list_fails_the_run_instead_of_leaving_the_module_out(
    tmp_path: Path, fault: str, mode: str
) -> None:
    with simulator(seed=43, records=5) as sim:
        sim.faults.add(fault)
        config = config_for(sim, request_max_tries=1)  # every module, as discovery finds them
        run = (
            run_with_timeout(tmp_path, config, 60)
            if mode == "sync"
            else run_tap(tmp_path, config, args=["--discover"])
        )
        assert run.returncode != 0
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        assert "Leaving out" not in run.stderr
        errors = [line for line in run.stderr.splitlines() if " ERROR " in line]
        assert len(errors) == 1, run.stderr[-3000:]
        assert job_ids(sim) == []
        if mode == "discover":
            assert run.stdout.strip() == ""  # no catalog, rather than one short of a module


def test_an_expired_token_on_field_metadata_is_refreshed_not_a_missing_module(
    tmp_path: Path,
) -> None:
    with simulator(seed=43, records=5) as sim:
        whole = run_tap(tmp_path, config_for(sim), args=["--discover"])
        sim.faults.add("fields:expire-token:nth=2")
        run = run_tap(tmp_path, config_for(sim), args=["--discover"])
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads(run.stdout) == json.loads(whole.stdout)
        assert "Leaving out" not in run.stderr


# -- 3. a job is in STATE from the moment it is created ---------------------------------------


def test_a_timed_out_job_is_taken_back_by_the_next_run(slow_sim: Simulator, tmp_path: Path) -> None:
    config = config_for(slow_sim, modules=["Leads"], job_timeout_seconds=1)
    first = run_with_timeout(tmp_path, config, 60)
    assert first.returncode != 0
    assert "did not finish within 1s" in first.stderr
    paid = job_ids(slow_sim)
    assert len(paid) == 1
    assert open_jobs(first.state, "Leads") == paid
    second = run_advancing(tmp_path, slow_sim, {**config, "job_timeout_seconds": 60}, first.state)

    assert second.returncode == 0, second.stderr[-3000:]
    assert_exact(second.result, slow_sim, ["Leads"])
    assert "Taking back job" in second.stderr
    assert creates(slow_sim) == 3  # page 1 once, then pages 2 and 3: nothing paid twice


def test_a_run_killed_before_its_first_page_is_resumed_without_a_new_job(
    slow_sim: Simulator, tmp_path: Path
) -> None:
    tap = Tap(tmp_path, config_for(slow_sim, modules=MODULES))
    state = tap.read_until("STATE with a job", seconds=20)["value"]
    while sum(len(open_jobs(state, m)) for m in MODULES) < len(MODULES):
        state = tap.read_until("STATE with a job", seconds=20)["value"]
    tap.process.send_signal(signal.SIGKILL)
    tap.finish(30)
    assert sorted(j for m in MODULES for j in open_jobs(state, m)) == sorted(job_ids(slow_sim))
    paid = creates(slow_sim)

    rerun = run_advancing(tmp_path, slow_sim, config_for(slow_sim, modules=MODULES), state)

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_exact(rerun.result, slow_sim, MODULES)
    assert creates(slow_sim) - paid == 3 * 2  # pages 2 and 3 of each module, not page 1 again


def test_a_budget_that_cannot_finish_a_job_does_not_create_it(tmp_path: Path) -> None:
    with simulator(seed=44, records=5) as sim:
        # Discovery spends 2 credits (modules, fields); 50 more would leave none to poll.
        config = config_for(sim, modules=["Leads"], max_credits_per_run=52)
        run = run_with_timeout(tmp_path, config, 60)
        assert run.returncode != 0
        assert "max_credits_per_run=52" in run.stderr
        assert job_ids(sim) == []


def test_a_budget_that_runs_out_while_polling_pays_for_the_job_once(tmp_path: Path) -> None:
    # The job needs more polls than the budget leaves: the run stops, the job stays in STATE
    # and the next run takes it back instead of creating (and paying for) it again.
    with simulator(seed=44, records=5, job_seconds=3.0) as sim:
        config = config_for(
            sim,
            modules=["Leads"],
            max_credits_per_run=58,
            poll_interval_min_seconds=0.05,
            poll_interval_max_seconds=0.05,
        )
        first = run_with_timeout(tmp_path, config, 60)
        assert first.returncode != 0
        assert "max_credits_per_run=58" in first.stderr
        assert len(job_ids(sim)) == 1
        assert open_jobs(first.state, "Leads") == job_ids(sim)
        time.sleep(3.0)

        second = run_with_timeout(tmp_path, config, 60, first.state)

        assert second.returncode == 0, second.stderr[-3000:]
        assert_exact(second.result, sim, ["Leads"])
        assert creates(sim) == 1


# -- 6. interrupted means non-zero --------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_waiting_for_jobs_ends_non_zero_with_every_job_in_state(
    slow_sim: Simulator, tmp_path: Path, signum: int, code: int
) -> None:
    # One job slot for three modules: two exports wait for a slot when the signal comes; they
    # must not create their jobs after it.
    tap = Tap(tmp_path, config_for(slow_sim, modules=MODULES, max_concurrent_jobs=1))
    tap.read_until("STATE with a job", seconds=20)
    tap.process.send_signal(signum)
    run = tap.finish(30)
    time.sleep(1.0)  # a thread that created a job after the signal would have done so by now

    assert run.returncode == code, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    last = parse_messages(run.stdout).messages[-1]
    assert last["type"] == "STATE"
    assert job_ids(slow_sim) == [j for m in MODULES for j in open_jobs(last["value"], m)]
    assert len(job_ids(slow_sim)) == 1


def test_sigterm_while_emitting_ends_after_a_whole_record_and_the_rerun_completes(
    tmp_path: Path,
) -> None:
    with simulator(seed=45, records=20_000, page_size=5_000) as sim:
        config = config_for(sim, modules=["Leads"], parse_processes=0)
        tap = Tap(tmp_path, config)
        tap.read_until("RECORD", seconds=30)
        tap.process.send_signal(signal.SIGTERM)
        run = tap.finish(60)

        assert run.returncode == 143, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        messages = parse_messages(run.stdout).messages  # every line whole JSON
        assert messages[-1]["type"] == "STATE"
        delivered = []
        pending = []
        for message in messages:
            if message["type"] == "RECORD":
                pending.append(message["record"]["Id"])
            elif message["type"] == "STATE":
                delivered += pending
                pending = []
        assert len(delivered) < 20_000  # it stopped early

        rerun = run_with_timeout(tmp_path, config, 120, messages[-1]["value"])

        assert rerun.returncode == 0, rerun.stderr[-3000:]
        emitted = delivered + rerun.result.ids("Leads")
        assert set(emitted) == expected_ids(sim, "Leads")


# -- 8. one failing module does not waste the others ------------------------------------------


def test_failed_modules_are_named_at_the_end_and_the_others_are_complete(tmp_path: Path) -> None:
    modules = ["Accounts", "Contacts", "Deals", "Leads", "Tasks"]
    with simulator(seed=46, records=40, page_size=10, failing_modules=("Contacts", "Tasks")) as sim:
        run = run_with_timeout(tmp_path, config_for(sim, modules=modules), 90)

        assert run.returncode == 1
        assert "Traceback" not in run.stderr
        last_error = [line for line in run.stderr.splitlines() if " ERROR " in line][-1]
        assert "2 module(s) failed" in last_error
        assert "Contacts, Tasks" in last_error
        assert_exact(run.result, sim, ["Accounts", "Deals", "Leads"])
        bookmarks = run.state["bookmarks"]
        for module in ("Accounts", "Deals", "Leads"):
            assert bookmarks[module]["replication_key_value"]
        for module in ("Contacts", "Tasks"):
            assert "replication_key_value" not in bookmarks[module]
            assert open_jobs(run.state, module)
        # Nothing was paid twice: one job per page of the modules that worked, one failed
        # job per failing module.
        per_module = Counter(str(job["module"]) for job in sim.stats()["jobs"])  # type: ignore[attr-defined]
        assert per_module == {"Accounts": 4, "Deals": 4, "Leads": 4, "Contacts": 1, "Tasks": 1}


# -- 4. (part) STATE and catalogs that cannot work ---------------------------------------------


def test_a_bookmark_after_the_run_start_is_warned_about_and_creates_no_job(
    tmp_path: Path,
) -> None:
    with simulator(seed=47, records=5) as sim:
        state = {
            "bookmarks": {
                "Leads": {
                    "replication_key": "Created_Time",
                    "replication_key_value": "2099-01-01T00:00:00+00:00",
                }
            }
        }
        run = run_with_timeout(tmp_path, config_for(sim, modules=["Leads"]), 60, state)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "is not before this run's start" in run.stderr
        assert job_ids(sim) == []
        assert run.state["bookmarks"]["Leads"]["replication_key_value"].startswith("2099")


def test_a_catalog_that_deselects_the_keys_still_gets_them(tmp_path: Path) -> None:
    with simulator(seed=48, records=12) as sim:
        config = config_for(sim, modules=["Leads"])
        catalog = json.loads(run_tap(tmp_path, config, args=["--discover"]).stdout)
        for entry in catalog["streams"]:
            for item in entry["metadata"]:
                breadcrumb = item["breadcrumb"]
                if breadcrumb == []:
                    item["metadata"]["selected"] = entry["tap_stream_id"] == "Leads"
                elif breadcrumb[-1] in {"Id", "Created_Time"}:
                    item["metadata"]["selected"] = False
                    item["metadata"]["inclusion"] = "available"
        write_json(tmp_path / "catalog.json", catalog)
        run = run_tap(tmp_path, config, args=["--catalog", str(tmp_path / "catalog.json")])
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr
        assert_exact(run.result, sim, ["Leads"])
        assert all(record["Created_Time"] for record in run.result.records["Leads"])
        assert run.state["bookmarks"]["Leads"]["replication_key_value"]


WRITER = """
import signal, sys
from tap_zoho_bulk.singer.writer import write_all
signal.signal(signal.SIGTERM, lambda signum, frame: None)
write_all(b"start\\n")
sys.stdout.flush()
write_all(b"".join(b"%08d" % i + b"x" * 91 + b"\\n" for i in range(3000)))
sys.stdout.flush()
"""


def test_a_signal_during_a_blocked_write_loses_no_byte() -> None:
    # A handled signal makes a large BufferedWriter.write on a full pipe return early: all of
    # the output must arrive all the same.
    for _ in range(5):
        child = subprocess.Popen(  # unbuffered: `communicate` must see every byte after start
            [sys.executable, "-c", WRITER],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"start\n"
        time.sleep(0.05)  # the pipe fills and the write blocks
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
        assert child.returncode == 0, err
        assert len(out) == 3000 * 100
