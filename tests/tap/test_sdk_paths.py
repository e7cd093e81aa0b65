"""Records written around singer-sdk's per-record loop are the bytes singer-sdk would write.

`ModuleStream` writes RECORD lines a batch at a time (`singer/sdk_bypass.py`) when nothing in
singer-sdk's loop would change them. For every setting singer-sdk 0.54 honours there (stream
maps that add, rename or drop fields, filter records or alias the stream; `__else__:
__NULL__`; flattening; ACTIVATE_VERSION on a full-table stream; a dry run's record limit) and
for none, a sync that may take the bypass and one forced through singer-sdk's loop, of the same
simulator data, write the same Singer output byte for byte, but for what differs between any
two runs: each page's `time_extracted` (its job's completion time), the table version (the
tap's start, in seconds), job ids and signposts in the last STATE, and the STATE written before
it (when jobs happen to be created).

BATCH is not among them: the tap does not advertise the BATCH capability (in singer-sdk 0.54
batch files bypass selection and stream maps), so `batch_config` is no setting of this tap.
singer-sdk still honours one given anyway (BATCH messages, no RECORD), so there the bypass
steps aside and both runs write the same batch files.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from singer_sdk import Stream

from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer import sdk_bypass
from tap_zoho_bulk.singer.sdk_bypass import DirectRecords
from tap_zoho_bulk.singer.streams import ModuleStream
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tests.tap.harness import config_for, simulator

#: Leads is incremental (three pages); Visit_Logs, on a key it lacks, is full-table.
MODULES = {"modules": ["Leads", "Visit_Logs"], "replication_keys": {"Visit_Logs": "Modified_Time"}}

#: (settings, whether each stream may take the bypass under them)
CASES: dict[str, tuple[dict[str, Any], dict[str, bool]]] = {
    "none": ({}, {"Leads": True, "Visit_Logs": True}),
    "a map adds a field": (
        {"stream_maps": {"Leads": {"domain": "Email.split('@')[-1] if Email else None"}}},
        {"Leads": False, "Visit_Logs": True},
    ),
    "a map renames a field": (
        {"stream_maps": {"Leads": {"Surname": "Last_Name", "Last_Name": "__NULL__"}}},
        {"Leads": False, "Visit_Logs": True},
    ),
    "a map filters records": (
        {"stream_maps": {"Visit_Logs": {"__filter__": "not Id.endswith('3')"}}},
        {"Leads": True, "Visit_Logs": False},
    ),
    "a map aliases the stream": (
        {"stream_maps": {"Leads": {"__alias__": "prospects"}}},
        {"Leads": False, "Visit_Logs": True},
    ),
    "__else__: __NULL__ among properties": (
        {"stream_maps": {"Leads": {"Id": "Id", "Email": "Email", "__else__": "__NULL__"}}},
        {"Leads": False, "Visit_Logs": True},
    ),
    "__else__: __NULL__ among streams": (
        {"stream_maps": {"Leads": {}, "__else__": "__NULL__"}},
        {"Leads": False, "Visit_Logs": False},
    ),
    "flattening": (
        {"flattening_enabled": True, "flattening_max_depth": 1},
        {"Leads": False, "Visit_Logs": False},
    ),
    "ACTIVATE_VERSION": (
        {"emit_activate_version_messages": True},
        {"Leads": True, "Visit_Logs": True},
    ),
    "ACTIVATE_VERSION with a map": (
        {"emit_activate_version_messages": True, "stream_maps": {"Visit_Logs": {"N": "Name"}}},
        {"Leads": True, "Visit_Logs": False},
    ),
}

_ENDING = re.compile(rb'(?:,"version":(\d+))?(?:,"time_extracted":"([^"]*)")?\}$')
_RUN_OWN = re.compile(rb'"(job_id|replication_key_signpost)":"[^"]*"')


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator(seed=7, records=120, page_size=50) as sim:
        yield sim


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Whether each stream took the bypass in the last run (what `_writes_directly` said)."""
    taken: dict[str, bool] = {}
    decide = ModuleStream._writes_directly

    def spy(stream: ModuleStream) -> bool:
        taken[stream.name] = answer = decide(stream)
        return answer

    monkeypatch.setattr(ModuleStream, "_writes_directly", spy)
    return taken


@pytest.fixture
def both(
    sim: Simulator, paths: dict[str, bool], capsysbinary: pytest.CaptureFixture[bytes]
) -> Callable[..., tuple[bytes, bytes]]:
    """Runs with the given settings: one forced through singer-sdk's loop, one that may take
    the bypass (which `paths` then tells), in that order."""

    def outputs(settings: dict[str, Any], dry_run: int | None = None) -> tuple[bytes, bytes]:
        config = config_for(sim, **MODULES, **settings)
        through_sdk = run(config, capsysbinary, bypass=False, dry_run=dry_run)
        assert not any(paths.values())
        return through_sdk, run(config, capsysbinary, bypass=True, dry_run=dry_run)

    return outputs


def run(
    config: dict[str, Any],
    capsysbinary: pytest.CaptureFixture[bytes],
    *,
    bypass: bool,
    dry_run: int | None = None,
) -> bytes:
    """One run's Singer output; through singer-sdk's loop only unless `bypass`."""
    with pytest.MonkeyPatch.context() as patch:
        if not bypass:
            patch.setattr(sdk_bypass, "ENABLED", False)
        # singer-sdk's mapper takes `__else__` out of the config it is given.
        tap = TapZohoBulk(config=copy.deepcopy(config))
        if dry_run is None:
            tap.sync_all()
        else:
            modules = [s for s in tap.streams.values() if isinstance(s, ModuleStream)]
            try:
                tap.run_sync_dry_run(dry_run_record_limit=dry_run, streams=modules)
            finally:
                tap.run.close()
        sys.stdout.flush()
    return capsysbinary.readouterr().out


def comparable(output: bytes, *, final_state: bool = True) -> list[bytes]:
    """The lines but intermediate STATE (written as jobs happen to be created), with each run's
    own values numbered in order of first appearance: a page's records still share one time,
    and a stream's records the version its ACTIVATE_VERSION announced."""
    numbers: dict[bytes, bytes] = {}

    def number(kind: bytes, value: bytes | None) -> bytes:
        if value is None:
            return b""
        token = numbers.setdefault(kind + value, b"%s%d" % (kind, len(numbers)))
        return b',"%s":"%s"' % (kind, token)

    lines = output.splitlines()
    states = [line for line in lines if line.startswith(b'{"type":"STATE"')]
    kept = [line for line in lines if not line.startswith(b'{"type":"STATE"')]
    kept += states[-1:] if final_state else []
    normal = []
    for line in kept:
        match = _ENDING.search(line)
        assert match is not None
        own = number(b"version", match[1]) + number(b"time_extracted", match[2])
        normal.append(_RUN_OWN.sub(rb'"\1":"*"', line[: match.start()]) + own + b"}")
    return normal


def messages(output: bytes, kind: str) -> list[dict[str, Any]]:
    found = (json.loads(line) for line in output.splitlines())
    return [message for message in found if message["type"] == kind]


@pytest.mark.parametrize("case", list(CASES))
def test_the_bypass_writes_what_singer_sdk_writes(
    both: Callable[..., tuple[bytes, bytes]], paths: dict[str, bool], case: str
) -> None:
    settings, bypassed = CASES[case]
    through_sdk, direct = both(settings)
    assert paths == bypassed

    assert comparable(direct) == comparable(through_sdk)
    records = messages(direct, "RECORD")
    assert len(records) > 100
    versions = {m["stream"]: m["version"] for m in messages(direct, "ACTIVATE_VERSION")}
    for record in records:
        assert record.get("version") == versions.get(record["stream"])


def test_activate_version_applies_to_full_table_streams_only(
    sim: Simulator, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    config = config_for(sim, **MODULES, emit_activate_version_messages=True)
    output = run(config, capsysbinary, bypass=True)
    (activate,) = messages(output, "ACTIVATE_VERSION")
    assert activate["stream"] == "Visit_Logs"
    versions = {(m["stream"], m.get("version")) for m in messages(output, "RECORD")}
    assert versions == {("Leads", None), ("Visit_Logs", activate["version"])}


def test_a_dry_run_stops_at_the_record_limit_on_either_path(
    both: Callable[..., tuple[bytes, bytes]], paths: dict[str, bool]
) -> None:
    through_sdk, direct = both({}, dry_run=70)
    assert paths == {"Leads": False, "Visit_Logs": False}  # the limit is counted per record
    # The last STATE of a run cut short lists the jobs created by then: no two runs agree.
    assert comparable(direct, final_state=False) == comparable(through_sdk, final_state=False)
    counts = {"Leads": 0, "Visit_Logs": 0}
    for record in messages(direct, "RECORD"):
        counts[record["stream"]] += 1
    assert counts == {"Leads": 70, "Visit_Logs": 12}


def test_a_batch_config_is_left_to_singer_sdk(
    both: Callable[..., tuple[bytes, bytes]], paths: dict[str, bool], tmp_path: Path
) -> None:
    storage = {"root": tmp_path.as_uri()}
    batch_config = {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": storage}
    through_sdk, direct = both({"batch_config": batch_config})
    assert paths == {"Leads": False, "Visit_Logs": False}
    assert not messages(direct, "RECORD")

    def files(output: bytes) -> list[bytes]:
        uris = [uri for m in messages(output, "BATCH") for uri in m["manifest"]]
        return [gzip.decompress(Path(urlparse(uri).path).read_bytes()) for uri in uris]

    assert files(direct) == files(through_sdk)
    assert len(files(direct)) == 2
    unlisted = re.compile(rb'"manifest":\[[^]]*\]')
    assert comparable(unlisted.sub(b"", direct)) == comparable(unlisted.sub(b"", through_sdk))


@pytest.mark.parametrize("cls", [DirectRecords, ModuleStream])
def test_what_overrides_singer_sdk_says_so(cls: type[Stream]) -> None:
    # A method of singer-sdk's that is renamed or removed must fail loudly, not be left
    # overriding nothing: `@override` marks each one (mypy checks them too).
    for name, value in vars(cls).items():
        method = value.fget if isinstance(value, property) else value
        marked = getattr(method, "__override__", False)
        if callable(method) and name != "__init__":
            assert marked == hasattr(Stream, name), f"{cls.__name__}.{name}"
