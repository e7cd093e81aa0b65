"""End to end through Meltano: `meltano install` and `meltano run` on a copy of this project.

The oracle is the simulator's own dataset: record ids are a pure function of (seed, module,
index), so a `Dataset` built here with the run's seed and size lists exactly the ids the tap must
deliver, including the ones a mutation adds.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tap_zoho_bulk.simulator.data import Dataset

from .conftest import BIN, ROOT, MeltanoProject, SimulatorProcess, clean_env

EXTRACTOR = "tap-zoho-bulk"
CAPABILITIES = {
    "state",
    "catalog",
    "discover",
    "about",
    "stream-maps",
    "schema-flattening",
    "structured-logging",
}
# Meltano setting kind for each JSON Schema type the tap uses (secrets and enums aside).
KIND_OF_TYPE = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def meltano_yml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(config: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in config["plugins"][kind] if p["name"] == name]
    return found


def environment_config(config: dict[str, Any], environment: str) -> dict[str, Any]:
    (env,) = [e for e in config["environments"] if e["name"] == environment]
    return plugin(env["config"], "extractors", EXTRACTOR)["config"]


def exportable_modules(dataset: Dataset) -> list[str]:
    """Modules the tap must turn into streams: API-supported and exportable by Bulk Read."""
    return [m.api_name for m in dataset.modules.values() if m.api_supported and m.bulk_exportable]


def ids_by_module(dataset: Dataset) -> dict[str, set[str]]:
    return {m: {str(r["Id"]) for r in dataset.records(m)} for m in exportable_modules(dataset)}


def read_jsonl(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """target-jsonl's output: one `<stream>.jsonl` per stream."""
    return {
        path.stem: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(folder.glob("*.jsonl"))
    }


def assert_exact_ids(
    written: dict[str, list[dict[str, Any]]], expected: dict[str, set[str]]
) -> None:
    """Every module written, each record once, and exactly the expected ids.

    Meltano selects every stream, so the run also writes the tap's audit of its own bulk read
    jobs: one COMPLETED job per module (each fits one page) that exported at least what was
    written (more only on incremental runs, whose window starts at the bookmark's second and
    so re-exports the records the tap already emitted there and skips).
    """
    audit = {job["module"]: job for job in written.pop("bulk_read_jobs", [])}
    written.pop("deleted_records", None)
    assert sorted(written) == sorted(expected)
    # A first run reads every module through Bulk Read; an incremental one reads small windows
    # through COQL (read_mode auto), which creates no job to audit.
    assert set(audit) <= set(expected)
    for module, job in audit.items():
        assert job["state"] == "COMPLETED"
        assert job["count"] >= len(expected[module])
    for module, records in written.items():
        counts = Counter(r["Id"] for r in records)
        duplicated = {i: n for i, n in counts.items() if n > 1}
        assert not duplicated, f"{module}: ids written more than once: {duplicated}"
        assert set(counts) == expected[module], (
            f"{module}: missing {sorted(expected[module] - set(counts))[:5]}, "
            f"unexpected {sorted(set(counts) - expected[module])[:5]}"
        )


def test_meltano_yml_declares_every_tap_setting() -> None:
    """meltano.yml must describe exactly what `tap-zoho-bulk --about` accepts, secrets as such."""
    about = json.loads(
        subprocess.run(
            [str(BIN / "tap-zoho-bulk"), "--about", "--format=json"],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        ).stdout
    )
    extractor = plugin(meltano_yml(), "extractors", EXTRACTOR)
    assert set(extractor["capabilities"]) == CAPABILITIES
    assert set(about["capabilities"]) >= CAPABILITIES
    # BATCH messages skip selection, conforming and stream maps in singer-sdk 0.54.9.
    assert "batch" not in about["capabilities"], "the tap must not advertise `batch`"

    declared = {s["name"]: s for s in extractor["settings"]}
    accepted: dict[str, Any] = about["settings"]["properties"]
    assert set(accepted) - set(declared) == set(), "settings missing from meltano.yml"
    assert set(declared) - set(accepted) == set(), "meltano.yml settings the tap does not know"
    for name, schema in accepted.items():
        setting = declared[name]
        assert setting.get("label"), name
        assert setting.get("description"), name
        secret = bool(schema.get("secret"))
        assert bool(setting.get("sensitive")) is secret, name
        types = [t for t in schema.get("type", ["object"]) if t != "null"] or ["object"]
        if secret:
            assert setting["kind"] == "password", name
        elif "enum" in schema:
            assert setting["kind"] == "options", name
            assert [o["value"] for o in setting["options"]] == schema["enum"], name
        elif schema.get("format") == "date-time":
            assert setting["kind"] == "date_iso8601", name
        elif "anyOf" in schema or "oneOf" in schema:
            assert setting["kind"] == "object", name
        else:
            assert setting["kind"] == KIND_OF_TYPE[types[0]], name


def test_prod_takes_credentials_from_the_environment(meltano_project: MeltanoProject) -> None:
    """`prod` must use Zoho, not the simulator, with credentials from TAP_ZOHO_BULK_* vars."""
    env = {
        "TAP_ZOHO_BULK_CLIENT_ID": "1000.PRODCLIENT",
        "TAP_ZOHO_BULK_CLIENT_SECRET": "prod-secret-value",
        "TAP_ZOHO_BULK_REFRESH_TOKEN": "1000.prod.refresh",
        "TAP_ZOHO_BULK_DATA_CENTER": "eu",
    }
    printed = meltano_project.meltano(
        "--environment=prod", "config", "--unsafe", "print", EXTRACTOR, env=env
    )
    config = json.loads(printed.stdout)
    assert config["use_simulator"] is False
    assert config["client_id"] == env["TAP_ZOHO_BULK_CLIENT_ID"]
    assert config["client_secret"] == env["TAP_ZOHO_BULK_CLIENT_SECRET"]
    assert config["refresh_token"] == env["TAP_ZOHO_BULK_REFRESH_TOKEN"]
    assert config["data_center"] == "eu"
    masked = meltano_project.meltano("--environment=prod", "config", "print", EXTRACTOR, env=env)
    assert env["TAP_ZOHO_BULK_CLIENT_SECRET"] not in masked.stdout
    assert env["TAP_ZOHO_BULK_REFRESH_TOKEN"] not in masked.stdout


def test_main_job_is_scheduled_daily(meltano_project: MeltanoProject) -> None:
    listed = json.loads(meltano_project.meltano("schedule", "list", "--format=json").stdout)
    jobs = {s["job"]["name"]: s for s in listed["schedules"]["job"]}
    assert "zoho-to-jsonl" in jobs
    schedule = jobs["zoho-to-jsonl"]
    assert schedule["cron_interval"] == "0 0 * * *"
    assert schedule["job"]["tasks"] == [f"{EXTRACTOR} target-jsonl"]


def test_dev_job_writes_every_simulator_record(
    meltano_project: MeltanoProject, tmp_path: Path
) -> None:
    """The README's main command: the dev environment's built-in simulator into JSONL files."""
    project = meltano_yml()
    dev = plugin(project, "extractors", EXTRACTOR)["config"]
    assert dev["use_simulator"] is True
    assert "use_simulator" not in environment_config(project, "dev")
    out = tmp_path / "jsonl"
    meltano_project.meltano("run", "zoho-to-jsonl", env={"TARGET_JSONL_DESTINATION_PATH": str(out)})
    oracle = Dataset(seed=dev["simulator_seed"], records=dev["simulator_records"])
    written = read_jsonl(out)
    assert_exact_ids(written, ids_by_module(oracle))
    # Ids depend on the index only; the text values depend on the seed too, and include
    # multi-line, quoted and non-ASCII cells. (Times are relative to the simulator's start.)
    for module, records in written.items():
        by_id = {r["Id"]: r for r in records}
        for expected in oracle.records(module):
            got = by_id[expected["Id"]]
            texts = {k: v for k, v in expected.items() if isinstance(v, str)}
            assert {k: got.get(k) for k in texts} == texts, f"{module} {expected['Id']}"


def test_second_run_writes_only_new_records(
    meltano_project: MeltanoProject, simulator_process: Any, tmp_path: Path
) -> None:
    """State kept by Meltano between two runs against one simulator process.

    The default replication key is Created_Time, so records the simulator only modified must not
    come back; the ones it added must, each once.
    """
    seed, records, added, modified = 7, 120, 4, 3
    # 14 result downloads within a minute: lift Zoho's 10-per-minute limit (not tested here).
    simulator: SimulatorProcess = simulator_process(
        "--seed", str(seed), "--records", str(records), "--download-limit", "100"
    )
    oracle = Dataset(seed=seed, records=records)
    before = ids_by_module(oracle)

    def run(folder: str) -> dict[str, list[dict[str, Any]]]:
        out = tmp_path / folder
        env = {**simulator.tap_env(), "TARGET_JSONL_DESTINATION_PATH": str(out)}
        meltano_project.meltano(
            "run", "--state-id-suffix=incremental", EXTRACTOR, "target-jsonl", env=env
        )
        return read_jsonl(out) if out.exists() else {}

    assert_exact_ids(run("first"), before)

    done = simulator.admin("mutate", {"add": added, "modify": modified})
    assert {m: c["added"] for m, c in done.items()} == dict.fromkeys(before, added)
    oracle.mutate(now=datetime.now(UTC), add=added, modify=modified)
    new = {m: ids - before[m] for m, ids in ids_by_module(oracle).items()}
    # The tap's window ends at its run start truncated to the second: let the clock pass the
    # second of the mutation so every added record is inside it.
    time.sleep(1.1)

    assert_exact_ids(run("second"), new)

    state = json.loads(
        meltano_project.meltano(
            "state", "get", f"dev:{EXTRACTOR}-to-target-jsonl:incremental"
        ).stdout
    )
    assert set(state["singer_state"]["bookmarks"]) >= set(before)
