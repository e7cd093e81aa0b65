"""Settings read from a config file, as Meltano and users pass them.

singer-sdk parses a config file with `parse_float=Decimal`, so fractional seconds arrive as
Decimals; in-process tests that pass a dict of floats never see that.
"""

from __future__ import annotations

from pathlib import Path

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import assert_exact, run_tap
from tests.tap.harness import config_for


def test_fractional_seconds_in_a_config_file(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.add("poll:503:once")  # so a backoff wait is computed from the fractions too
    config = config_for(
        sim,
        modules=["Leads"],
        poll_interval_min_seconds=0.05,
        poll_interval_max_seconds=0.25,
        job_timeout_seconds=30.5,
        request_backoff_base_seconds=0.01,
        request_backoff_max_seconds=0.05,
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert_exact(run.result, sim, ["Leads"])
