"""Soak: four modules, 1,000,000 records, random faults on about 1% of the calls of each kind.

The tap runs as a process (as in production) against the in-process simulator, writing to a
file; the test then compares primary keys with the simulator's data. Retried calls and
re-downloaded pages must not duplicate anything; only a window restarted because Zoho refused
an expired page_token re-emits records (at-least-once, documented in the README).

Run alone with `pytest tests/reliability/test_soak.py -s` to see the figures.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.support import TAP, duplicates, expected_ids, write_json
from tests.tap.harness import config_for, simulator

PER_MODULE = {"Leads": 400_000, "Contacts": 300_000, "Deals": 200_000, "Accounts": 100_000}
PAGE = 25_000
SEED = 1234  # the simulator seeds the faults' random draws too
SOAK_FAULTS = [
    "any:503:rate=0.01",
    "any:429:rate=0.01",
    "token:throttle:rate=0.01",
    "create:502:rate=0.01",
    "create:expire-page-token:rate=0.01",
    "poll:500:rate=0.01",
    "poll:expire-token:rate=0.01",
    "download:reset:rate=0.01",
    "download:truncate:rate=0.01",
    "download:corrupt:rate=0.01",
    # With some 160 calls in a run, 1% may miss a kind: one of each at a fixed call as well.
    "download:truncate:nth=7",
    "download:corrupt:nth=19",
    "download:reset:nth=31",
    "poll:expire-token:nth=20",
    "create:503:nth=11",
]
RECORD = re.compile(rb'^\{"type":"RECORD","stream":"([^"]+)","record":\{"Id":"(\d+)"')


@pytest.mark.slow
def test_a_million_records_through_random_faults(tmp_path: Path) -> None:
    records = sum(PER_MODULE.values())
    assert records == 1_000_000
    with simulator(
        seed=SEED, records=0, per_module=PER_MODULE, page_size=PAGE, job_seconds=0.2
    ) as sim:
        for spec in SOAK_FAULTS:
            sim.faults.add(spec)
        config = write_json(tmp_path / "config.json", config_for(sim, modules=list(PER_MODULE)))
        (tmp_path / "tmp").mkdir()
        out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
        started = time.monotonic()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            done = subprocess.run(
                [*TAP, "--config", str(config)],
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
                timeout=900,
                check=False,
            )
        seconds = time.monotonic() - started
        log = err.read_text()
        assert done.returncode == 0, log[-3000:]
        assert "Traceback" not in log

        emitted: dict[str, list[str]] = {module: [] for module in PER_MODULE}
        lines = Counter[str]()
        with out.open("rb") as messages:
            for line in messages:
                match = RECORD.match(line)
                if match:
                    emitted[match[1].decode()].append(match[2].decode())
                lines[line[:16].decode()] += 1
        assert sum(map(len, emitted.values())) == lines['{"type":"RECORD"']  # all parsed

        fired = {spec: count for spec, count in sim.faults.fired_counts().items() if count}
        calls = sim.app.stats()["calls"]
        assert isinstance(calls, dict)
        restarts = Counter(re.findall(r"refused the page_token for page \d+ of '(\w+)'", log))
        redownloads = len(re.findall(r"of '\w+' page \d+ is damaged", log))
        dupes = {module: duplicates(ids) for module, ids in emitted.items()}
        print(
            f"\nsoak: {records:,} records in {seconds:.0f}s ({records / seconds:,.0f}/s); "
            f"calls {calls}; faults fired {sum(fired.values())}: {fired}; "
            f"damaged downloads retried {redownloads}; window restarts {dict(restarts)}; "
            f"duplicates {dupes}"
        )
        for module, ids in emitted.items():
            assert set(ids) == expected_ids(sim, module), module
            if not restarts[module]:
                assert dupes[module] == 0, module
        assert sum(fired.values()) >= 10  # the faults did happen
        assert redownloads >= 2  # the truncated and the corrupt page at least
        assert list((tmp_path / "tmp").iterdir()) == []  # result files deleted
