"""The tap's promises beyond plain syncs: discovery, auth, concurrency, limits, data centres."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import threading
import time
from typing import Any

import pytest

from tap_zoho_bulk.errors import AuthError, ConfigError
from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.simulator.catalog import USERS
from tap_zoho_bulk.singer import settings
from tap_zoho_bulk.singer.run import ModulesFailed
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tap_zoho_bulk.zoho.auth import DATA_CENTERS
from tap_zoho_bulk.zoho.client import DownloadLimiter
from tests.tap.harness import config_for, discover, simulator, sync


def schema_of(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == stream)
    return entry["schema"]["properties"]  # type: ignore[no-any-return]


def test_discovery_types_and_exclusions(sim: Simulator) -> None:
    catalog = discover(config_for(sim))
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}

    assert "Notes" not in streams  # listed by Zoho, refused by Bulk Read
    assert "Home" not in streams  # api_supported: false
    leads = schema_of(catalog, "Leads")
    assert next(iter(leads)) == "Id"
    assert leads["Id"] == {"type": "string"}  # the primary key is never null
    assert leads["Created_Time"] == {"type": ["string", "null"], "format": "date-time"}
    assert leads["Annual_Revenue"]["type"] == ["number", "null"]
    assert leads["Owner"]["type"] == ["string", "null"]  # lookups are ids
    by_type = {f.data_type: f.api_name for f in sim.dataset.modules["Leads"].fields}
    assert leads[by_type["multiselectpicklist"]]["type"] == ["array", "null"]
    assert leads[by_type["bigint"]]["type"] == ["string", "null"]
    assert leads[by_type["boolean"]]["type"] == ["boolean", "null"]
    assert by_type["fileupload"] not in leads  # Bulk Read rejects these
    assert by_type["multiselectlookup"] not in leads
    assert streams["Leads"]["key_properties"] == ["Id"]
    assert streams["Leads"]["replication_key"] == "Created_Time"


def test_module_without_field_metadata_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulator(seed=2, records=10, fields_no_content=("Deals",)) as sim:
        with caplog.at_level(logging.WARNING):
            catalog = discover(config_for(sim))
        names = {s["tap_stream_id"] for s in catalog["streams"]}
        assert "Deals" not in names
        assert "Leads" in names
        assert any("Deals" in r.getMessage() and "204" in r.getMessage() for r in caplog.records)


def test_module_without_the_replication_key_is_full_table(sim: Simulator) -> None:
    catalog = discover(config_for(sim, replication_key="Modified_Time"))
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert streams["Visit_Logs"].get("replication_key") is None
    assert streams["Visit_Logs"]["replication_method"] == "FULL_TABLE"
    assert streams["Deals"]["replication_key"] == "Modified_Time"


def test_jobs_of_all_modules_run_at_once() -> None:
    modules = ["Accounts", "Contacts", "Deals", "Leads", "Shipments", "Tasks"]
    with simulator(seed=4, records=30, job_seconds=1.0) as sim:
        out = io.TextIOWrapper(io.BytesIO())
        with contextlib.redirect_stdout(out):
            tap = TapZohoBulk(config=config_for(sim, modules=modules))
            tap.sync_all()
        assert tap.run.reader is not None
        jobs = tap.run.reader.jobs
    assert sorted(j.module for j in jobs) == modules
    # Every job was created before the first one finished: they overlapped, not queued.
    first_done = min(j.completed_at for j in jobs if j.completed_at)
    assert max(j.created_at for j in jobs) < first_done


def test_max_concurrent_jobs_bounds_jobs_in_flight() -> None:
    modules = ["Accounts", "Contacts", "Deals", "Leads"]
    with simulator(seed=4, records=10, job_seconds=0.4) as sim:
        peak = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, sim.stats()["jobs_in_flight"])
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            result = sync(config_for(sim, modules=modules, max_concurrent_jobs=2))
        finally:
            stop.set()
            watcher.join()
    assert sorted(result.records) == modules
    assert 1 <= peak <= 2


def test_scope_mismatch_names_the_scope_needed(sim: Simulator) -> None:
    token = sim.add_refresh_token(scopes=("ZohoCRM.settings.ALL", "ZohoCRM.modules.ALL"))
    with pytest.raises(ModulesFailed) as failed:
        sync(config_for(sim, refresh_token=token, modules=["Leads"]))
    assert re.search(r"OAUTH_SCOPE_MISMATCH.*ZohoCRM\.bulk\.read", failed.value.failures["Leads"])


def test_no_permission_is_explained() -> None:
    with (
        simulator(seed=2, records=10, no_permission_modules=("Deals",)) as sim,
        pytest.raises(ModulesFailed) as failed,
    ):
        sync(config_for(sim, modules=["Deals"]))
    assert re.search(r"NO_PERMISSION.*permission", failed.value.failures["Deals"])


def test_revoked_refresh_token_names_the_likely_causes(sim: Simulator) -> None:
    with pytest.raises(AuthError, match=r"invalid_code.*revoked.*data centre"):
        discover(config_for(sim, refresh_token="1000.revoked"))


def test_wrong_client_names_the_likely_causes(sim: Simulator) -> None:
    with pytest.raises(AuthError, match=r"invalid_client.*client_secret.*data centre"):
        discover(config_for(sim, client_secret="wrong"))


def test_token_endpoint_throttling_is_retried(sim: Simulator) -> None:
    sim.faults.add("token:throttle:first=2")
    result = sync(config_for(sim, modules=["Tasks"]))
    assert len(result.records["Tasks"]) == sim.dataset.record_count("Tasks")
    assert sim.stats()["faults_fired"]


def test_one_token_is_shared_by_every_stream_and_thread(sim: Simulator) -> None:
    sync(config_for(sim))
    assert sim.stats()["tokens_issued"] == 1


@pytest.mark.parametrize("center", sorted(DATA_CENTERS))
def test_each_data_center_has_its_own_hosts(center: str) -> None:
    config = {"client_id": "i", "client_secret": "s", "refresh_token": "r", "data_center": center}
    conn = settings.connection(config, logger=logging.getLogger("test"))
    assert conn.accounts_url == DATA_CENTERS[center].accounts_url
    assert conn.api_domain is None  # taken from the token response
    sandbox = settings.connection({**config, "environment": "sandbox"}, logger=logging.getLogger())
    assert sandbox.api_domain == f"https://sandbox.zohoapis.{DATA_CENTERS[center].api_tld}"


def test_unknown_data_center_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="mars"):
        settings.connection(
            {"client_id": "i", "client_secret": "s", "refresh_token": "r", "data_center": "mars"},
            logger=logging.getLogger("test"),
        )


def test_more_than_200_fields_asks_for_all_and_prunes_locally(sim: Simulator) -> None:
    catalog = discover(config_for(sim, modules=["Leads"]))
    entry = catalog["streams"][0]
    for n in range(200):
        entry["schema"]["properties"][f"Owner.extra_{n}"] = {"type": ["string", "null"]}
    tap = TapZohoBulk(config=config_for(sim), catalog=catalog)
    plan = tap.streams["Leads"].export_plan()  # type: ignore[attr-defined]
    assert plan.fields is None


def test_input_catalog_skips_discovery(sim: Simulator) -> None:
    config = config_for(sim, modules=["Leads", "Tasks"])
    catalog = discover(config)
    calls_before = dict(sim.stats()["calls"])
    result = sync(config, catalog=catalog)
    calls = sim.stats()["calls"]
    assert calls.get("modules", 0) == calls_before.get("modules", 0)
    # Only the selected modules' fields are checked against the catalog (1 credit each).
    assert calls["fields"] - calls_before["fields"] == 2
    assert len(result.records["Leads"]) == sim.dataset.record_count("Leads")


def test_user_criteria_and_per_module_keys(sim: Simulator) -> None:
    criteria = {
        "Leads": {"api_name": "Lead_Source", "comparator": "equal", "value": "Web Download"}
    }
    config = config_for(
        sim,
        modules=["Leads", "Deals"],
        criteria=criteria,
        replication_keys={"Deals": "Modified_Time"},
    )
    result = sync(config)
    wanted = {
        str(r["Id"]) for r in sim.dataset.records("Leads") if r["Lead_Source"] == "Web Download"
    }
    assert wanted
    assert set(result.ids("Leads")) == wanted
    assert result.state["bookmarks"]["Deals"]["replication_key"] == "Modified_Time"


def test_dotted_lookup_columns(sim: Simulator) -> None:
    fields = {"Contacts": ["Last_Name", "Owner", "Owner.last_name", "Account_Name.Account_Name"]}
    result = sync(config_for(sim, modules=["Contacts"], fields=fields))
    names = {u.id: u.last_name for u in USERS}
    accounts = {str(a["Id"]): a["Account_Name"] for a in sim.dataset.records("Accounts")}
    contacts = {str(c["Id"]): c for c in sim.dataset.records("Contacts")}
    assert result.records["Contacts"]
    for record in result.records["Contacts"]:
        assert set(record) == {"Id", "Created_Time", *fields["Contacts"]}
        assert record["Owner.last_name"] == names[record["Owner"]]
        account = contacts[record["Id"]]["Account_Name"]
        assert record["Account_Name.Account_Name"] == (accounts[str(account)] if account else None)


def test_download_limiter_spaces_downloads() -> None:
    limiter = DownloadLimiter(per_minute=3, window_seconds=0.5)
    started = time.monotonic()
    waits = [limiter.acquire() for _ in range(7)]
    elapsed = time.monotonic() - started
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(w > 0 for w in waits[3:4])
    assert elapsed >= 1.0  # 7 starts at 3 per half second need two full windows


def test_direct_writing_is_byte_for_byte_the_sdk_path(sim: Simulator) -> None:
    config = config_for(sim, modules=["Leads", "Deals"])
    direct = sync(config)
    # An identity map changes no record, but sends every record through the SDK's loop.
    identity = {stream: {"Id": "Id"} for stream in ("Leads", "Deals")}
    through_sdk = sync({**config, "stream_maps": identity})
    direct_lines = [m for m in direct.messages if m["type"] == "RECORD"]
    sdk_lines = [m for m in through_sdk.messages if m["type"] == "RECORD"]
    assert len(direct_lines) == sim.dataset.record_count("Leads") + sim.dataset.record_count(
        "Deals"
    )
    # Same messages (time_extracted is each run's own job completion time).
    for line in direct_lines + sdk_lines:
        assert line.pop("time_extracted")
    key = lambda m: (m["stream"], m["record"]["Id"])  # noqa: E731
    assert sorted(direct_lines, key=key) == sorted(sdk_lines, key=key)


def test_stream_maps_still_apply(sim: Simulator) -> None:
    maps = {
        "Leads": {"Email": "__NULL__", "email_domain": "Email.split('@')[-1] if Email else None"}
    }
    result = sync(config_for(sim, modules=["Leads"], stream_maps=maps))
    emails = {str(r["Id"]): r["Email"] for r in sim.dataset.records("Leads")}
    for record in result.records["Leads"]:
        assert "Email" not in record
        email = emails[record["Id"]]
        assert record["email_domain"] == (email.split("@")[-1] if email else None)


def test_record_count_metric_counts_directly_written_records(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="singer_sdk.metrics"):
        sync(config_for(sim, modules=["Contacts"]))
    counts = [r.getMessage() for r in caplog.records if '"record_count"' in r.getMessage()]
    assert any('"value":120' in c and '"Contacts"' in c for c in counts), counts
