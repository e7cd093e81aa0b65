"""Run the real tap (in-process or as a command) and sort out the Singer messages it writes."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from tap_zoho_bulk.simulator import Simulator, run_simulator
from tap_zoho_bulk.singer.run import ModulesFailed
from tap_zoho_bulk.singer.tap import TapZohoBulk

FAST = {
    "poll_interval_min_seconds": 0.02,
    "poll_interval_max_seconds": 0.1,
    "request_backoff_base_seconds": 0.01,
    "request_backoff_max_seconds": 0.05,
    "downloads_per_minute": 1000,
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
        tap.sync_all()
        out.flush()
    return parse_messages(out.buffer.getvalue().decode("utf-8"))  # type: ignore[attr-defined]


def sync_failing(
    config: dict[str, Any], *, state: dict[str, Any] | None = None
) -> tuple[SyncResult, ModulesFailed]:
    """A run in which some modules fail for good: what it emitted, and the failure it ended on."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):
        tap = TapZohoBulk(config=config, state=state)
        try:
            tap.sync_all()
        except ModulesFailed as exc:
            failed = exc
        else:
            raise AssertionError("the run did not fail")
        out.flush()
    return parse_messages(out.buffer.getvalue().decode("utf-8")), failed  # type: ignore[attr-defined]


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


@contextmanager
def simulator(**options: Any) -> Iterator[Simulator]:
    """A simulator whose download limit does not slow tests down (the limit has its own tests)."""
    options = {"job_seconds": 0.0, "download_limit_per_minute": 1000, **options}
    with run_simulator(**options) as sim:
        yield sim


def next_second() -> None:
    """Let the wall clock enter a new second.

    A run's window ends (exclusively) at the second the run starts, so records Zoho stamps with
    that very second belong to the next run; a test that changes data and syncs at once must
    let that second pass to see them.
    """
    time.sleep(1.05 - (time.time() % 1.0))


def access_token(sim: Simulator) -> str:
    """A token from the simulator's accounts server, minted the way any Zoho client does it."""
    answer = requests.post(
        f"{sim.accounts_url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
        },
        timeout=10,
    )
    return str(answer.json()["access_token"])
