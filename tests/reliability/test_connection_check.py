"""`--test` is a connection check: a few credits, no Bulk Read job, a verdict, a truthful exit.

singer-sdk's own `--test` syncs one record of every stream, which for this tap meant a Bulk Read
job (50 credits, and a wait in Zoho's queue) per module; these tests run the tap as users do,
as a process against the simulator over HTTP.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import assert_clear_error, run_tap
from tests.tap.harness import config_for, simulator

MODULES = ["Accounts", "Deals", "Leads"]


@pytest.fixture(scope="module")
def sim() -> Simulator:
    with simulator(seed=5, records=30) as sim:
        yield sim


def spent(sim: Simulator, before: dict) -> tuple[int, dict[str, int]]:
    """Credits spent and calls made (per kind) since `before`."""
    now = sim.stats()
    calls = {k: v - before["calls"].get(k, 0) for k, v in now["calls"].items()}
    return now["credits_used"] - before["credits_used"], {k: v for k, v in calls.items() if v}


def test_a_good_connection_passes_for_a_few_credits_and_no_job(
    sim: Simulator, tmp_path: Path
) -> None:
    before = sim.stats()
    run = run_tap(tmp_path, config_for(sim, modules=MODULES), args=["--test"])
    assert run.returncode == 0, run.stderr[-3000:]
    credits, calls = spent(sim, before)
    assert "create" not in calls, calls
    assert "download" not in calls, calls
    # The module list, one field list per module, one status call on a job that does not exist.
    assert calls == {"token": 1, "modules": 1, "fields": len(MODULES), "poll": 1}, calls
    assert credits == len(MODULES) + 2
    verdict = [line for line in run.stderr.splitlines() if "Connection check passed" in line]
    assert len(verdict) == 1, run.stderr
    assert f"{len(MODULES)} module stream(s)" in verdict[0]
    assert f"({credits} credits, no Bulk Read job created)" in verdict[0]
    assert " ERROR " not in run.stderr
    assert '"type":"RECORD"' not in run.stdout.replace(" ", "")


def test_a_bad_refresh_token_fails_in_one_line(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, modules=MODULES, refresh_token=secrets.token_hex(16))
    before = sim.stats()
    run = run_tap(tmp_path, config, args=["--test"])
    assert_clear_error(run, "refresh")
    assert config["refresh_token"] not in run.stdout + run.stderr
    assert spent(sim, before)[0] == 0
    assert "Connection check passed" not in run.stderr


@pytest.mark.parametrize(
    ("scopes", "missing"),
    [
        (("ZohoCRM.settings.ALL", "ZohoCRM.modules.ALL"), "ZohoCRM.bulk.read"),
        (("ZohoCRM.bulk.read", "ZohoCRM.modules.ALL"), "ZohoCRM.settings"),
    ],
    ids=["no-bulk-read", "no-settings"],
)
def test_a_token_without_a_needed_scope_fails_and_names_it(
    sim: Simulator, tmp_path: Path, scopes: tuple[str, ...], missing: str
) -> None:
    token = sim.add_refresh_token(scopes=scopes)
    run = run_tap(tmp_path, config_for(sim, modules=MODULES, refresh_token=token), args=["--test"])
    assert_clear_error(run, "OAUTH_SCOPE_MISMATCH", missing)
    assert "Connection check passed" not in run.stderr


def test_zoho_down_during_the_check_fails_it(sim: Simulator, tmp_path: Path) -> None:
    sim.faults.add("poll:503:always")
    try:
        config = config_for(sim, modules=MODULES, request_max_tries=2)
        run = run_tap(tmp_path, config, args=["--test"])
    finally:
        sim.faults.clear()
    assert_clear_error(run, "503")
    assert "Connection check passed" not in run.stderr
