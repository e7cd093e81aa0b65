"""Full and incremental syncs of the real tap against the simulator, record by record."""

from __future__ import annotations

import copy
import re
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer.run import ModulesFailed
from tests.tap.harness import access_token, config_for, next_second, simulator, sync

EXPORTABLE = ["Accounts", "Contacts", "Deals", "Leads", "Shipments", "Tasks", "Visit_Logs"]


def expected_json(value: Any, prop: dict[str, Any] | None = None) -> Any:
    """What the tap must emit for one of the simulator's typed values."""
    if isinstance(value, int) and not isinstance(value, bool) and prop and "string" in prop["type"]:
        return str(value)  # ids and bigints travel as strings
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def job_echo(sim: Simulator, job_id: str) -> dict[str, Any]:
    """The job as Zoho describes it, fetched over HTTP like any client would."""
    token = access_token(sim)
    answer = requests.get(
        f"{sim.api_domain}/crm/bulk/v8/read/{job_id}",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=10,
    )
    return answer.json()["data"][0]  # type: ignore[no-any-return]


def oracle(sim: Simulator, module: str, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    properties = schema["properties"]
    return {
        str(record["Id"]): {c: expected_json(record.get(c), properties[c]) for c in properties}
        for record in sim.dataset.records(module)
    }


def test_full_sync_emits_every_module_exactly(sim: Simulator) -> None:
    result = sync(config_for(sim))

    assert sorted(result.records) == EXPORTABLE
    for module in EXPORTABLE:
        ids = result.ids(module)
        assert len(ids) == len(set(ids)), f"duplicate primary keys in {module}"
        assert set(ids) == {str(r["Id"]) for r in sim.dataset.records(module)}


def test_every_value_has_its_json_type(sim: Simulator) -> None:
    result = sync(config_for(sim, modules=["Leads"]))
    columns = list(result.schemas["Leads"]["properties"])
    expected = oracle(sim, "Leads", result.schemas["Leads"])

    assert len(result.records["Leads"]) == len(expected)
    for record in result.records["Leads"]:
        assert list(record) == columns  # exactly the schema's keys, in schema order
        assert record == expected[record["Id"]]
    booleans = [
        c
        for c in columns
        if result.schemas["Leads"]["properties"][c].get("type") == ["boolean", "null"]
    ]
    assert booleans, "the Leads fixture must have boolean fields"
    seen = Counter(record[c] for record in result.records["Leads"] for c in booleans)
    assert seen[False] > 0
    assert seen[True] > 0
    # Empty cells became null (and nothing else did: the equality above checks every value).
    assert any(value is None for record in result.records["Leads"] for value in record.values())


def test_pages_are_all_read(sim: Simulator) -> None:
    result = sync(config_for(sim, modules=["Contacts"]))

    assert len(result.records["Contacts"]) == sim.dataset.record_count("Contacts")
    jobs = [j for j in sim.stats()["jobs"] if j["module"] == "Contacts"]
    assert len(jobs) == 3  # 120 records at 50 per page


@pytest.mark.parametrize("version", ["v2", "v2.1", "v7", "v8"])
def test_every_api_version_reads_all_pages(version: str) -> None:
    with simulator(seed=3, records=70, page_size=30) as sim:
        result = sync(config_for(sim, api_version=version, modules=["Deals", "Leads"]))
        for module in ("Deals", "Leads"):
            assert sorted(result.ids(module)) == sorted(
                str(r["Id"]) for r in sim.dataset.records(module)
            )


def test_second_run_emits_only_new_records(sim: Simulator) -> None:
    first = sync(config_for(sim))
    sim.mutate(add=7, modify=5)
    next_second()
    second = sync(config_for(sim), state=first.state)

    for module in EXPORTABLE:
        before = set(first.ids(module))
        now = {str(r["Id"]) for r in sim.dataset.records(module)}
        assert set(second.ids(module)) == now - before, module


def test_modified_time_captures_changed_records() -> None:
    with simulator(seed=5, records=80, page_size=1000) as sim:
        config = config_for(sim, replication_key="Modified_Time", modules=["Deals", "Visit_Logs"])
        first = sync(config)
        old = {r["Id"]: r for r in first.records["Deals"]}
        sim.mutate(add=4, modify=6)
        next_second()
        second = sync(config, state=first.state)

        changed = {
            str(r["Id"])
            for r in sim.dataset.records("Deals")
            if str(r["Id"]) not in old
            or expected_json(r["Modified_Time"]) != old[str(r["Id"])]["Modified_Time"]
        }
        assert len(changed) == 10
        assert set(second.ids("Deals")) == changed
        # A module without Modified_Time is synced whole every time.
        assert len(second.records["Visit_Logs"]) == sim.dataset.record_count("Visit_Logs")


def test_bookmark_is_utc_max_and_window_is_second_precise(sim: Simulator) -> None:
    result = sync(config_for(sim, modules=["Leads"]))
    bookmark = result.state["bookmarks"]["Leads"]
    emitted = [r["Created_Time"] for r in result.records["Leads"]]

    assert bookmark["replication_key"] == "Created_Time"
    assert bookmark["replication_key_value"] == max(emitted)
    assert bookmark["replication_key_value"].endswith("+00:00")
    assert "bulk_job" not in bookmark
    created = next(j for j in sim.stats()["jobs"] if j["module"] == "Leads")
    criteria = job_echo(sim, created["id"])["query"]["criteria"]
    # First run: no lower bound; the upper bound is the run's start, to the second.
    assert criteria["field"]["api_name"] == "Created_Time"
    assert criteria["comparator"] == "less_than"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", criteria["value"])


def test_interrupted_run_resumes_the_same_job(sim: Simulator) -> None:
    config = config_for(sim, modules=["Contacts"])
    full = sync(config)
    mid = next(
        s
        for s in full.states
        if s["bookmarks"].get("Contacts", {}).get("bulk_job", {}).get("page") == 2
    )
    jobs_before = len(sim.stats()["jobs"])

    resumed = sync(config, state=copy.deepcopy(mid))

    # Pages 2 and 3 again (page 2 is re-read from the start: at-least-once within a page),
    # without a new job for any page the STATE names (page 2, and page 3 if it was created).
    page1 = set(full.ids("Contacts")[:50])
    assert set(resumed.ids("Contacts")) == set(full.ids("Contacts")) - page1
    named = 1 + len(mid["bookmarks"]["Contacts"]["bulk_job"]["later_jobs"])
    assert len(sim.stats()["jobs"]) - jobs_before == 2 - named


def test_failed_job_stops_with_zoho_reason() -> None:
    with (
        simulator(seed=1, records=20, failing_modules=("Deals",)) as sim,
        pytest.raises(ModulesFailed) as failed,
    ):
        sync(config_for(sim, modules=["Accounts", "Deals"]))
    assert list(failed.value.failures) == ["Deals"]
    assert re.search(r"Deals.*failed.*INTERNAL_SERVER_ERROR", failed.value.failures["Deals"])


def test_slow_jobs_pass_through_every_state() -> None:
    with simulator(seed=1, records=30, job_seconds=0.6) as sim:
        result = sync(config_for(sim, modules=["Leads", "Tasks"]))
        assert len(result.records["Leads"]) == 30
        stats = sim.stats()
        assert stats["calls"]["poll"] >= 2 * len(stats["jobs"])


def test_token_expiring_mid_run_is_refreshed(sim: Simulator) -> None:
    config = config_for(sim, modules=["Leads", "Contacts"])
    sim.faults.add("poll:expire-token:nth=2")
    result = sync(config)
    assert len(result.records["Contacts"]) == sim.dataset.record_count("Contacts")
    assert sim.stats()["token_requests"] >= 2


@pytest.mark.parametrize("endpoint", ["create", "poll", "download", "token"])
def test_429_is_retried(sim: Simulator, endpoint: str) -> None:
    sim.faults.add(f"{endpoint}:429:first=2")
    result = sync(config_for(sim, modules=["Leads"]))
    assert sorted(result.ids("Leads")) == sorted(str(r["Id"]) for r in sim.dataset.records("Leads"))
