"""Bad configuration: one clear line, a non-zero exit, and no bulk job (so no credits) spent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.tap.harness import config_for, run_cli


def assert_one_line_failure(result: Any, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if fragments[0] in line]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0]


def assert_no_job(sim: Simulator) -> None:
    assert sim.stats()["jobs"] == []


def test_missing_credentials(tmp_path: Path) -> None:
    result = run_cli([], tmp_path, {"client_id": "abc"})
    assert_one_line_failure(result, "Missing client_secret, refresh_token")


def test_unknown_data_center(tmp_path: Path) -> None:
    config = {"client_id": "a", "client_secret": "b", "refresh_token": "c", "data_center": "mars"}
    result = run_cli([], tmp_path, config)
    assert result.returncode != 0
    assert "mars" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_start_date(sim: Simulator, tmp_path: Path) -> None:
    result = run_cli([], tmp_path, config_for(sim, start_date="last tuesday"))
    assert_one_line_failure(result, "start_date", "last tuesday")
    assert_no_job(sim)


def test_unknown_module(sim: Simulator, tmp_path: Path) -> None:
    result = run_cli([], tmp_path, config_for(sim, modules=["Leads", "Unicorns", "Notes"]))
    assert_one_line_failure(result, "Unicorns", "Notes")
    assert_no_job(sim)


def test_too_many_criteria(sim: Simulator, tmp_path: Path) -> None:
    leaves = [
        {"api_name": "Annual_Revenue", "comparator": "not_equal", "value": i} for i in range(25)
    ]
    criteria = {"Leads": {"group_operator": "or", "group": leaves}}
    result = run_cli([], tmp_path, config_for(sim, modules=["Leads"], criteria=criteria))
    assert_one_line_failure(result, "limit of 25")
    assert_no_job(sim)


def test_catalog_with_fields_zoho_does_not_have(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, modules=["Leads"])
    discovered = run_cli(["--discover"], tmp_path, config)
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    leads = next(s for s in catalog["streams"] if s["tap_stream_id"] == "Leads")
    leads["schema"]["properties"]["Favourite_Colour"] = {"type": ["string", "null"]}
    leads["metadata"].append(
        {"breadcrumb": ["properties", "Favourite_Colour"], "metadata": {"selected": True}}
    )
    for entry in leads["metadata"]:
        if entry["breadcrumb"] == []:
            entry["metadata"]["selected"] = True
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))

    result = run_cli(["--catalog", str(catalog_path)], tmp_path, config)
    assert_one_line_failure(result, "Favourite_Colour", "re-run discovery")
    assert_no_job(sim)


def test_credit_budget_stops_before_the_job_that_would_exceed_it(
    sim: Simulator, tmp_path: Path
) -> None:
    # Discovery costs 1 credit per call; two modules' first jobs cost 100.
    result = run_cli(
        [], tmp_path, config_for(sim, modules=["Leads", "Tasks"], max_credits_per_run=60)
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(sim.stats()["jobs"]) == 1
    assert sim.stats()["credits_used"] <= 60
    # The page that was paid for is emitted all the same; both modules are named as failed.
    records = [json.loads(line) for line in result.stdout.splitlines() if '"RECORD"' in line]
    assert len({r["stream"] for r in records}) == 1
    assert len(records) == 50  # one page
    assert "2 module(s) failed, each logged above: Leads, Tasks." in result.stderr
    assert result.stderr.count("max_credits_per_run=60") == 2


@pytest.mark.parametrize("secret_key", ["client_secret", "refresh_token"])
def test_about_and_errors_never_show_secrets(
    sim: Simulator, tmp_path: Path, secret_key: str
) -> None:
    config = config_for(sim, modules=["Unicorns"])
    result = run_cli([], tmp_path, config)
    about = run_cli(["--about", "--format=json"], tmp_path, config)
    for output in (result.stdout, result.stderr, about.stdout, about.stderr):
        assert config[secret_key] not in output


def test_negative_parse_processes(sim: Simulator, tmp_path: Path) -> None:
    result = run_cli([], tmp_path, config_for(sim, parse_processes=-1))
    assert_one_line_failure(result, "parse_processes must be 0")
    assert_no_job(sim)
