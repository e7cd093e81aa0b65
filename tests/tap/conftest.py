"""Run the real tap against a real simulator over HTTP and collect what it writes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator, run_simulator
from tap_zoho_bulk.tap import TapZohoBulk

FAST = {
    "poll_interval_min_seconds": 0.02,
    "poll_interval_max_seconds": 0.1,
    "request_backoff_base_seconds": 0.01,
    "request_backoff_max_seconds": 0.05,
}


@dataclass
class SyncResult:
    """The Singer messages of one run, sorted out."""

    messages: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def ids(self, stream: str) -> list[str]:
        return [r["Id"] for r in self.records[stream]]


def parse_messages(text: str) -> SyncResult:
    result = SyncResult(
        messages=[json.loads(line, parse_float=Decimal) for line in text.splitlines() if line]
    )
    for message in result.messages:
        if message["type"] == "RECORD":
            result.records[message["stream"]].append(message["record"])
        elif message["type"] == "SCHEMA":
            result.schemas[message["stream"]] = message["schema"]
        elif message["type"] == "STATE":
            result.states.append(message["value"])
    return result


def sync(
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SyncResult:
    """One in-process `tap-zoho-bulk --config ... [--state ...] [--catalog ...]` run."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):
        tap = TapZohoBulk(config=config, state=state, catalog=catalog)
        try:
            tap.sync_all()
        finally:
            reader = tap._reader
            if reader is not None:
                reader.close()
        out.flush()
    return parse_messages(out.buffer.getvalue().decode("utf-8"))  # type: ignore[attr-defined]


def discover(config: dict[str, Any]) -> dict[str, Any]:
    tap = TapZohoBulk(config=config)
    return tap.catalog_dict


def run_cli(
    args: list[str], tmp_path: Path, config: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """The tap as users run it, as a separate process."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_zoho_bulk", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def config_for(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    return {**sim.tap_config(), **FAST, **overrides}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(seed=7, records=120, page_size=50, job_seconds=0.0) as simulator:
        yield simulator
