"""What the reliability tests share: the simulator's record sets and the tap run as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tap_zoho_bulk.simulator import Simulator
from tests.tap.harness import SyncResult, parse_messages

TAP = [sys.executable, "-m", "tap_zoho_bulk"]


def expected_ids(sim: Simulator, module: str) -> set[str]:
    """The primary keys Zoho (the simulator) holds for a module."""
    return {str(record["Id"]) for record in sim.dataset.records(module)}


def assert_exact(result: SyncResult, sim: Simulator, modules: Iterable[str]) -> None:
    """Every record of every module, each exactly once."""
    for module in modules:
        ids = result.ids(module)
        assert set(ids) == expected_ids(sim, module), module
        assert len(ids) == len(set(ids)), f"duplicates in {module}"


def duplicates(ids: Iterable[str]) -> int:
    """How many records arrived more than once (at-least-once redeliveries)."""
    return sum(count - 1 for count in Counter(ids).values())


@dataclass
class CliRun:
    """One `tap-zoho-bulk` process: exit code, output, and its Singer messages."""

    returncode: int
    stdout: str
    stderr: str

    @cached_property
    def result(self) -> SyncResult:
        return parse_messages(self.stdout)

    @property
    def state(self) -> dict[str, Any]:
        return self.result.state


def run_tap(
    tmp_path: Path,
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    args: Iterable[str] = (),
    env: dict[str, str] | None = None,
) -> CliRun:
    """The tap as a separate process, with `--state` when given one."""
    command = tap_command(tmp_path, config, state, args)
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


def tap_command(
    tmp_path: Path,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    args: Iterable[str] = (),
) -> list[str]:
    """`tap-zoho-bulk --config ... [args] [--state ...]`, the files written under tmp_path."""
    command = [*TAP, "--config", str(write_json(tmp_path / "config.json", config)), *args]
    if state is not None:
        command += ["--state", str(write_json(tmp_path / "state.json", state))]
    return command


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def assert_clear_error(run: CliRun, *fragments: str) -> None:
    """A non-zero exit with one error line that names the problem, and no traceback."""
    assert run.returncode != 0
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if " ERROR " in line and fragments[0] in line]
    assert len(lines) == 1, run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
