"""SIGKILL in the middle of a stream, then a rerun from the last STATE the killed run emitted.

The test stops reading the tap's stdout after some records, so the tap fills the pipe and blocks
in the middle of a page; then it is killed. A target commits only what precedes a STATE, so only
records before the last STATE count as delivered: those and the rerun's must be every record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import TAP, duplicates, expected_ids, run_tap, write_json
from tests.tap.harness import config_for, simulator

MODULES = ["Contacts", "Leads"]  # synced in this order
PER_MODULE = 3000
PAGE = 1000


@dataclass
class Killed:
    """What a killed run delivered: records before its last STATE, and that STATE."""

    delivered: dict[str, list[str]]
    state: dict[str, Any]


@pytest.fixture
def big_sim() -> Iterator[Simulator]:
    with simulator(seed=31, records=PER_MODULE, page_size=PAGE) as sim:
        yield sim


def kill_after(records: int, tmp_path: Path, config: dict[str, Any], env: dict[str, str]) -> Killed:
    """Run the tap, read `records` RECORD lines, SIGKILL it, and keep what it had written."""
    command = [*TAP, "--config", str(write_json(tmp_path / "config.json", config))]
    with (tmp_path / "killed.stderr").open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)
        assert process.stdout is not None
        output = bytearray()
        seen = 0
        for line in process.stdout:
            output += line
            seen += line.startswith(b'{"type":"RECORD"')
            if seen == records:
                break
        process.send_signal(signal.SIGKILL)
        output += process.stdout.read()  # written before it died, still in the pipe
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the tap finished before it could be killed"
    delivered: dict[str, list[str]] = {}
    pending: dict[str, list[str]] = {}
    state: dict[str, Any] = {}
    # A line cut by the kill is no message (a target discards it too).
    for line in bytes(output).split(b"\n")[:-1]:
        message = json.loads(line)
        if message["type"] == "RECORD":
            pending.setdefault(message["stream"], []).append(message["record"]["Id"])
        elif message["type"] == "STATE":
            state = message["value"]
            for stream, ids in pending.items():
                delivered.setdefault(stream, []).extend(ids)
            pending = {}
    return Killed(delivered, state)


def tmp_env(tmp_path: Path) -> dict[str, str]:
    """Temporary files of both runs in one place, to see the killed run's being swept."""
    folder = tmp_path / "tmp"
    folder.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(folder)}


def leftovers(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["TMPDIR"]).glob("tap-zoho-bulk-*"))


@pytest.mark.parametrize(
    "records",
    [
        10,  # page 1 of the first stream
        PAGE + PAGE // 2,  # the middle of page 2 of the first stream
        PER_MODULE + PAGE + 7,  # page 2 of the second stream
    ],
)
def test_sigkill_mid_stream_then_resume_from_the_last_state(
    big_sim: Simulator, tmp_path: Path, records: int
) -> None:
    config = config_for(big_sim, modules=MODULES)
    env = tmp_env(tmp_path)
    killed = kill_after(records, tmp_path, config, env)
    assert leftovers(env), "the killed run had downloaded a result"

    rerun = run_tap(tmp_path, config, state=killed.state, env=env)

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    for module in MODULES:
        emitted = killed.delivered.get(module, []) + rerun.result.ids(module)
        assert set(emitted) == expected_ids(big_sim, module), module
        # At-least-once: only the page interrupted by the kill comes twice.
        assert duplicates(emitted) <= PAGE, module
    assert "bulk_job" not in json.dumps(rerun.state)
    assert leftovers(env) == []  # the killed run's result files were swept


def test_sigkill_then_resume_after_zoho_dropped_the_job(big_sim: Simulator, tmp_path: Path) -> None:
    config = config_for(big_sim, modules=MODULES)
    env = tmp_env(tmp_path)
    killed = kill_after(PAGE + 100, tmp_path, config, env)
    assert killed.state["bookmarks"]["Contacts"]["bulk_job"]["page"] == 2
    big_sim.advance(2 * 86_400)  # results and page tokens are kept for a day

    rerun = run_tap(tmp_path, config, state=killed.state, env=env)

    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "exporting the window again" in rerun.stderr
    for module in MODULES:
        emitted = killed.delivered.get(module, []) + rerun.result.ids(module)
        assert set(emitted) == expected_ids(big_sim, module), module
