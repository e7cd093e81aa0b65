"""tap-zoho-bulk's performance in one table: throughput, memory, concurrency and API cost.

Run: `.venv/bin/python benchmarks/benchmark.py` (about 5 minutes on 2 cores; `--quick` shrinks
every size for a run of under a minute, `--profile` adds a cProfile of the tap's path).

Every figure comes from this run, on data the simulator generates in this run:

1. Parse-and-emit throughput over one 200,000-row Leads result ZIP (41 fields + Id, every data
   type, multi-line text, emoji and CJK), written by the simulator's own `Dataset.write_page`.
   Three variants each run in a child process whose stdout is a pipe that this process drains
   and counts RECORD lines from (so every variant pays for the same kind of sink, and every one
   is checked to emit every row); each is timed inside the child around the work alone:
     tap      the real `TapZohoBulk.sync_all()` with default settings: SCHEMA, the stream's
              get_records (ZIP checks, pieces read, typed and encoded in the tap's worker
              processes, bookmark ties), STATE, starting and stopping the workers. Only the
              `BulkReader` is replaced, by one that hands over the page already downloaded:
              no job, poll or download is timed.
     floor    `csv.reader` over the same ZIP member writing untyped msgspec RECORD lines.
     default  a singer-sdk Stream with every default (SingerWriter, conformance, is_sorted,
              per-record state), yielding the same typed records through the tap's RecordReader.
   Rates are rows per wall second (the target is on these); rows per CPU second of the child
   and every process under it (the tap's workers, read from /proc) are shown next to them.
   Each variant runs --repeat times, interleaved; the best run counts.
2. Peak memory of whole tap runs (`python -m tap_zoho_bulk --config ...`, discovery included)
   against the simulator's console script in its own process: the summed PSS of all the tap's
   processes, sampled, and the main process's own peak RSS from its rusage (wait4); the
   simulator's peak RSS is read from /proc.
3. Wall time of a 6-module sync whose simulated jobs take 5 s each, against the same sync of one
   module and against the 6-module sync with instant jobs (startup, discovery, download, parse).
4. Calls, credits and polls from the simulator's stats; polls for jobs of 5, 50 and 500 s with
   the tap's default poll schedule, in simulated time (see `scaled_polls`).
5. Credits and wall time of incremental runs (no change, 10, 1,000 and 50,000 new records) with
   read_mode auto and bulk, and the daily credits they make for a 30-module org (`cost.py`).
6. A whole `meltano run` into target-jsonl with the tap's worker processes on and off: rows/s
   and the CPU of tap, target and Meltano, and the default of parse_processes they argue for.

`--only parse,runs,cost,pipeline` runs some of them: parse is 1, runs is 2 to 4.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import dataclasses
import functools
import io
import itertools
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, cast

import msgspec
from cost import COST_FULL, COST_QUICK, incremental_cost, pipeline
from harness import (
    MODULE,
    SIX_MODULES,
    Finished,
    Table,
    descendants,
    proc_cpu_ticks,
    run_child,
    run_tap,
    simulator_process,
)
from singer_sdk import Stream, Tap

from tap_zoho_bulk.results.archive import open_result_member, verify_result
from tap_zoho_bulk.results.reader import RecordReader
from tap_zoho_bulk.simulator import Simulator, run_simulator
from tap_zoho_bulk.simulator.data import Dataset
from tap_zoho_bulk.singer.settings import SIMULATOR_EPOCH
from tap_zoho_bulk.singer.streams import ModuleStream
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tap_zoho_bulk.zoho.jobs import ExportPlan, JobStats, PageFile, Polling
from tap_zoho_bulk.zoho.reader import BulkReader

PAGE_JOB_ID = "4150868000005400001"
VARIANTS = ("tap", "floor", "default", "reader")
# Fake credentials for the throughput child: it never calls Zoho, only builds the client.
OFFLINE_CONFIG = {
    "client_id": "benchmark",
    "client_secret": "benchmark",
    "refresh_token": "benchmark",
    "accounts_url": "http://127.0.0.1:9",
    "api_domain": "http://127.0.0.1:9",
    # The deletions stream asks Zoho; section 1 times reading a page, not that call.
    "track_deletions": False,
}


@dataclass(frozen=True)
class Sizes:
    """Everything --quick shrinks."""

    rows: int
    repeat: int
    small: int
    big: int
    page_size: int
    job_seconds: float
    poll_durations: tuple[float, ...]
    #: Real seconds a scaled-time job may take (see `scaled_polls`).
    scaled_real_seconds: float


FULL = Sizes(200_000, 3, 100_000, 1_000_000, 200_000, 5.0, (5.0, 50.0, 500.0), 5.0)
QUICK = Sizes(20_000, 1, 20_000, 200_000, 20_000, 2.0, (5.0, 50.0, 500.0), 2.0)


# -- 1. throughput: data, and the three children ------------------------------------------------


@dataclass(frozen=True)
class Page:
    """The result ZIP every throughput variant reads."""

    path: Path
    member: str
    rows: int
    catalog: dict[str, Any]
    generation_wall: float
    generation_cpu: float

    @property
    def entry(self) -> dict[str, Any]:
        return next(s for s in self.catalog["streams"] if s["tap_stream_id"] == MODULE)

    @property
    def columns(self) -> list[str]:
        return list(self.entry["schema"]["properties"])


def discover_catalog(workdir: Path) -> dict[str, Any]:
    """The catalog the tap itself discovers for Leads (the page's columns follow it)."""
    with run_simulator(records=10, now=SIMULATOR_EPOCH) as simulator:
        path = workdir / "discover.config.json"
        path.write_text(json.dumps({**simulator.tap_config(), "modules": [MODULE]}))
        answer = subprocess.run(
            [sys.executable, "-m", "tap_zoho_bulk", "--config", str(path), "--discover"],
            capture_output=True,
            check=True,
        )
    catalog: dict[str, Any] = json.loads(answer.stdout)
    return catalog


def write_page(workdir: Path, rows: int) -> Page:
    """Page 1 of Leads as the simulator serves it to the tap's first run, timed."""
    catalog = discover_catalog(workdir)
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == MODULE)
    columns = [name for name in entry["schema"]["properties"] if name != "Id"]
    key = next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]["replication-key"]
    # The window of a first run: everything created before the run started.
    criteria = {
        "api_name": key,
        "comparator": "less_than",
        "value": (SIMULATOR_EPOCH + timedelta(days=1)).isoformat(),
    }
    dataset = Dataset(seed=1, records=rows, now=SIMULATOR_EPOCH)
    problem = dataset.validate_query(MODULE, columns, criteria)
    if problem is not None:
        raise SystemExit(f"the simulator refuses the tap's query: {problem}")
    path = workdir / f"{PAGE_JOB_ID}.zip"
    with path.open("wb") as dest:
        wall, cpu = time.perf_counter(), time.process_time()
        info = dataset.write_page(
            dest,
            job_id=PAGE_JOB_ID,
            module=MODULE,
            columns=columns,
            criteria=criteria,
            page=1,
            per_page=rows,
            snapshot=dataset.snapshot(),
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if info.count != rows:
        raise SystemExit(f"the page holds {info.count} rows, expected {rows}")
    return Page(path, f"{PAGE_JOB_ID}.csv", rows, catalog, wall, cpu)


class PrefetchedReader(BulkReader):
    """The tap's BulkReader with the run's one page already downloaded.

    Everything after the download is the tap's own code; the job, its polls and the download
    are left out so that the figure is the tap's parse-and-emit rate alone.
    """

    def __init__(self, tap: TapZohoBulk, page: Path, rows: int) -> None:
        super().__init__(
            client=tap.client,
            version=tap.api_version,
            polling=Polling(),
            max_concurrent_jobs=1,
            logger=tap.logger,
            verify=verify_result,
        )
        self._page = page
        self._rows = rows
        self._plans: dict[str, ExportPlan] = {}

    def start(self, plans: Sequence[ExportPlan]) -> None:
        self._plans.update((plan.stream, plan) for plan in plans)

    def plan(self, stream: str) -> ExportPlan | None:
        return self._plans.get(stream)

    def open_jobs(self, stream: str) -> list[JobStats]:
        return []

    def done_with(self, page: PageFile) -> None:
        pass

    def pages(self, stream: str, idle: Callable[[], None]) -> Iterator[PageFile]:
        plan = self._plans[stream]
        now = datetime.now(UTC)
        job = JobStats(
            job_id=PAGE_JOB_ID,
            stream=stream,
            module=plan.module,
            page=1,
            criteria=plan.criteria,
            field_count=len(plan.fields or []),
            created_at=now,
            deadline=time.monotonic() + 3600,
            state="COMPLETED",
            completed_at=now,
            polls=1,
            count=self._rows,
        )
        self.record(job)
        yield PageFile(self._page, job)


def prefetched_tap(page: Path, rows: int, catalog: dict[str, Any]) -> TapZohoBulk:
    """The real tap, reading `page` (which it deletes once read, as it does downloads)."""

    class PrefetchedTap(TapZohoBulk):
        def _new_reader(self) -> BulkReader:
            return PrefetchedReader(self, page, rows)

        def _check_catalog_fields(self, streams: Sequence[ModuleStream]) -> None:
            """Offline: the catalog was discovered from the simulator that made the page."""

    return PrefetchedTap(config=OFFLINE_CONFIG, catalog=catalog)


def default_sdk_tap(page: Path, member: str, entry: Mapping[str, Any]) -> Tap:
    """A tap written the singer-sdk way with every default, doing the tap's conversions."""
    schema = entry["schema"]
    top = next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]

    class DefaultStream(Stream):
        name = MODULE
        primary_keys = top["table-key-properties"]
        replication_key = top.get("replication-key")

        def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
            reader = RecordReader(self.schema, self.schema["properties"], stream_name=self.name)
            with open_result_member(page, member) as csv_member:
                yield from reader.records(csv_member, source=member)

    class DefaultTap(Tap):
        name = "tap-default-sdk"
        config_jsonschema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

        def discover_streams(self) -> list[Stream]:
            return [DefaultStream(self, schema=schema)]

    return DefaultTap(config={})


def emit(records: Iterable[dict[str, Any]]) -> None:
    """Write each record as a RECORD line, the cheapest way msgspec can."""
    encoder = msgspec.json.Encoder(decimal_format="number")
    line = bytearray()
    out = sys.stdout.buffer
    for record in records:
        encoder.encode_into({"type": "RECORD", "stream": MODULE, "record": record}, line)
        line.extend(b"\n")
        out.write(line)
    out.flush()


def floor(page: Path, member: str) -> None:
    """The limit for this work in Python: parse the CSV, pair cells with the header, emit."""
    with zipfile.ZipFile(page) as archive, archive.open(member) as raw:
        rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        header = next(rows)
        emit(dict(zip(header, row, strict=True)) for row in rows)


def reader_only(page: Path, member: str, entry: Mapping[str, Any]) -> None:
    """The tap's typed reading without the SDK: where the tap's time goes, by difference."""
    reader = RecordReader(entry["schema"], entry["schema"]["properties"], stream_name=MODULE)
    with open_result_member(page, member) as csv_member:
        emit(reader.records(csv_member, source=member))


def cpu_seconds() -> float:
    """CPU time of this process, its threads, the children it has waited for, and every live
    descendant with the children each has waited for (the tap's workers are forked by a fork
    server, which reaps them)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks = sum(proc_cpu_ticks(pid) for pid in descendants(os.getpid()))
    return (
        time.process_time()
        + children.ru_utime
        + children.ru_stime
        + ticks / os.sysconf("SC_CLK_TCK")
    )


def child(args: argparse.Namespace) -> None:
    """One throughput variant, timed around its work only; the figures go to --result."""
    page, member, rows = Path(args.page), args.member, args.rows
    catalog = json.loads(Path(args.catalog).read_text())
    entry = next(s for s in catalog["streams"] if s["tap_stream_id"] == MODULE)
    with tempfile.TemporaryDirectory(dir=page.parent) as scratch:
        if args.child == "tap":
            copy = Path(scratch) / page.name
            shutil.copyfile(page, copy)  # the tap deletes each page once read, as in a real run
            tap = prefetched_tap(copy, rows, catalog)

            def work() -> None:
                tap.sync_all()  # ends by reaping the workers, so that their CPU time is counted

        elif args.child == "default":
            work = default_sdk_tap(page, member, entry).sync_all
        elif args.child == "reader":
            work = functools.partial(reader_only, page, member, entry)
        else:
            work = functools.partial(floor, page, member)
        profiler = cProfile.Profile(time.process_time) if args.profile_out else None
        wall, cpu = time.perf_counter(), cpu_seconds()
        if profiler is not None:
            profiler.enable()
        work()
        sys.stdout.flush()
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    if profiler is not None:
        profiler.dump_stats(args.profile_out)
    Path(args.result).write_text(json.dumps({"wall": wall, "cpu": cpu}))


@dataclass
class Rate:
    """Best rates over the repeats of one variant."""

    cpu: float = 0.0
    wall: float = 0.0
    stdout_mb: float = 0.0

    def update(self, rows: int, cpu: float, wall: float, stdout_bytes: int) -> None:
        self.cpu = max(self.cpu, rows / cpu)
        self.wall = max(self.wall, rows / wall)
        self.stdout_mb = stdout_bytes / 1e6


def run_variant(page: Page, workdir: Path, variant: str, profile_out: Path | None = None) -> Any:
    catalog = workdir / "catalog.json"
    if not catalog.exists():
        catalog.write_text(json.dumps(page.catalog))
    result = workdir / f"{variant}.result.json"
    # Started with -c, not as a script: the tap's worker processes recreate a script's
    # __main__ by running it again, which would import this module (and singer-sdk) in each.
    bootstrap = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
    bootstrap += "import benchmark; benchmark.main()"
    command = [
        sys.executable,
        "-c",
        bootstrap,
        "--child",
        variant,
        "--page",
        str(page.path),
        "--member",
        page.member,
        "--catalog",
        str(catalog),
        "--rows",
        str(page.rows),
        "--result",
        str(result),
    ]
    if profile_out is not None:
        command += ["--profile-out", str(profile_out)]
    finished = run_child(command, workdir / f"{variant}.log")
    finished.check(f"the {variant} variant", records=page.rows)
    return json.loads(result.read_text()), finished


def throughput(page: Page, workdir: Path, repeat: int, table: Table) -> None:
    """Section 1, with the simulator's page-generation target that compares against it."""
    rates = {variant: Rate() for variant in VARIANTS}
    for _ in range(repeat):
        for variant in VARIANTS:
            timing, finished = run_variant(page, workdir, variant)
            rates[variant].update(page.rows, timing["cpu"], timing["wall"], finished.stdout_bytes)
    with zipfile.ZipFile(page.path) as archive:
        csv_mb = archive.getinfo(page.member).file_size / 1e6
    table.section(
        f"1. Parse and emit: {page.rows:,} {MODULE} rows x {len(page.columns)} columns "
        f"(ZIP {page.path.stat().st_size / 1e6:.1f} MB, CSV {csv_mb:.1f} MB), best of {repeat}"
    )
    labels = {
        "tap": "tap: TapZohoBulk.sync_all on the downloaded page",
        "floor": "floor: csv.reader + msgspec RECORD lines, untyped",
        "default": "default singer-sdk stream, same typed records",
        "reader": "diagnostic: tap's RecordReader + msgspec, no SDK",
    }

    def shown(rate: Rate) -> str:
        return f"{rate.wall:,.0f} rows/s (CPU {rate.cpu:,.0f})"

    def ratio(a: Rate, b: Rate) -> str:
        return f"{a.wall / b.wall:.2f} (CPU {a.cpu / b.cpu:.2f})"

    for variant in ("tap", "floor", "default"):
        table.add(labels[variant], shown(rates[variant]))
    tap, floor_rate, default, reader = (rates[v] for v in ("tap", "floor", "default", "reader"))
    table.add("tap / floor", ratio(tap, floor_rate), ">= 0.75", tap.wall / floor_rate.wall >= 0.75)
    table.add("tap / default", ratio(tap, default))
    table.add(labels["reader"], shown(reader))
    table.add("diagnostic: reader / floor", ratio(reader, floor_rate))
    table.add("diagnostic: tap / reader (all but typing)", ratio(tap, reader))
    table.add(
        "RECORD output per run: tap / floor / default",
        f"{tap.stdout_mb:.0f} / {floor_rate.stdout_mb:.0f} / {default.stdout_mb:.0f} MB",
    )
    tap_cpu = page.rows / tap.cpu
    share = page.generation_cpu / tap_cpu
    table.add(
        "simulator: generate+zip the page / tap's parse, CPU s",
        f"{page.generation_cpu:.2f} / {tap_cpu:.2f} = {share:.2f}",
        "< 0.5",
        share < 0.5,
    )


# -- 2. memory and 4. the cost of a big export -------------------------------------------------


def memory_and_cost(sizes: Sizes, workdir: Path, table: Table) -> dict[str, Any]:
    """Section 2; returns the big run's simulator stats for section 4."""
    runs: dict[int, Finished] = {}
    simulator_rss = 0.0
    stats: dict[str, Any] = {}
    for records in (sizes.small, sizes.big):
        flags = ["--records", "0", "--per-module", f"{MODULE}={records}"]
        flags += ["--page-size", str(sizes.page_size)]
        with simulator_process(workdir, f"memory-{records}", *flags) as simulator:
            finished = run_tap(simulator.tap_config(modules=[MODULE]), workdir, f"memory-{records}")
            finished.check(f"the {records:,}-record run", records=records)
            runs[records] = finished
            if records == sizes.big:
                simulator_rss = simulator.peak_rss_mb()
                stats = simulator.stats()
    small, big = runs[sizes.small], runs[sizes.big]
    table.section(
        f"2. Memory: whole tap runs (discovery included), simulator in its own process, "
        f"pages of {sizes.page_size:,}"
    )
    for records, finished in runs.items():
        pages = -(-records // sizes.page_size)
        table.add(
            f"tap peak memory, {records:,} records ({pages} page{'s' * (pages > 1)}), "
            "all processes (PSS)",
            f"{finished.tree_pss_mb:.0f} MB",
            "< 200 MB",
            finished.tree_pss_mb < 200,
        )
        table.add("  peak RSS of the tap's main process alone", f"{finished.max_rss_mb:.0f} MB")
    growth = big.tree_pss_mb / small.tree_pss_mb
    table.add(f"{sizes.big:,} / {sizes.small:,} records", f"{growth:.2f}", "<= 1.20", growth <= 1.2)
    table.add(
        f"end to end, {sizes.big:,} records (wall, incl. startup)",
        f"{sizes.big / big.wall:,.0f} rows/s in {big.wall:.1f} s",
    )
    table.add(
        f"simulator peak RSS serving {sizes.big:,} records",
        f"{simulator_rss:.0f} MB",
        "< 200 MB",
        simulator_rss < 200,
    )
    return stats


def cost(stats: Mapping[str, Any], records: int, table: Table) -> None:
    calls: dict[str, int] = stats["calls"]
    jobs = len(stats["jobs"])
    credits = int(stats["credits_used"])
    extra = (credits - 50 * jobs) / jobs
    table.add(
        f"calls for {records:,} records ({jobs} jobs)",
        ", ".join(f"{kind} {count}" for kind, count in sorted(calls.items())),
    )
    table.add("polls per job (instant jobs)", f"{calls.get('poll', 0) / jobs:.1f}")
    table.add(
        f"credits for {records:,} records",
        f"{credits} = 50 x {jobs} + {extra:.1f} per job",
        "50/page + a few per job",
        extra <= 5,
    )


# -- 3. concurrency -----------------------------------------------------------------------------


def concurrency(sizes: Sizes, workdir: Path, table: Table) -> float:
    """Section 3; returns the polls per job of the 1-module run (its jobs take job_seconds)."""
    seconds = sizes.job_seconds

    def sync(modules: list[str], job_seconds: float, name: str) -> tuple[Finished, dict[str, Any]]:
        flags = ["--records", "1000", "--job-seconds", str(job_seconds)]
        with simulator_process(workdir, name, *flags) as simulator:
            finished = run_tap(simulator.tap_config(modules=modules), workdir, name)
            finished.check(name)
            return finished, simulator.stats()

    six, _ = sync(SIX_MODULES, seconds, "six-modules")
    one, one_stats = sync([MODULE], seconds, "one-module")
    instant, _ = sync(SIX_MODULES, 0.0, "six-modules-instant")
    limit = 1.5 * seconds + instant.wall
    table.section(
        f"3. Concurrency: whole tap runs, jobs of {seconds:g} s, "
        f"{len(SIX_MODULES)} modules ({', '.join(SIX_MODULES)})"
    )
    table.add(f"{len(SIX_MODULES)} modules, {seconds:g} s jobs", f"{six.wall:.1f} s")
    table.add(f"1 module ({MODULE}), {seconds:g} s job", f"{one.wall:.1f} s")
    table.add(f"{len(SIX_MODULES)} modules, instant jobs", f"{instant.wall:.1f} s")
    table.add(
        f"{len(SIX_MODULES)} modules vs 1.5 x {seconds:g} s + instant run",
        f"{six.wall:.1f} s",
        f"< {limit:.1f} s",
        six.wall < limit,
    )
    table.add(f"{len(SIX_MODULES)} modules / 1 module", f"{six.wall / one.wall:.2f}")
    calls = one_stats["calls"]
    return float(calls.get("poll", 0)) / len(one_stats["jobs"])


# -- 4. polls per job by job duration -----------------------------------------------------------


def scheduled_polls(duration: float, polling: Polling) -> int:
    """Polls the tap's schedule makes for a job of `duration` s: the first right after creating."""
    moment, interval, polls = 0.0, polling.first_seconds, 1
    while moment < duration:
        moment += interval
        polls += 1
        interval = min(interval * polling.growth, polling.max_seconds)
    return polls


def scaled_polls(duration: float, real_seconds: float, workdir: Path) -> float:
    """Polls per job for a job of `duration` simulated seconds, taking about `real_seconds`.

    Time runs `scale` times faster for both sides: a thread advances the (in-process) simulator's
    clock so that it runs at `scale` x real time, and the tap's poll intervals are the defaults
    divided by `scale`. In simulated time the tap then polls on its default schedule, against a
    job that takes `duration` simulated seconds.
    """
    scale = max(1.0, duration / real_seconds)
    defaults = Polling()
    options: dict[str, Any] = {"records": 0, "per_module": {MODULE: 100}, "job_seconds": duration}
    with run_simulator(**options) as simulator:
        stop = threading.Event()
        driver = threading.Thread(target=_drive_clock, args=(simulator, scale, stop), daemon=True)
        driver.start()
        try:
            config = simulator.tap_config()
            finished = run_tap(
                {
                    **config,
                    "modules": [MODULE],
                    "poll_interval_min_seconds": defaults.first_seconds / scale,
                    "poll_interval_max_seconds": defaults.max_seconds / scale,
                },
                workdir,
                f"polls-{duration:g}",
            )
        finally:
            stop.set()
            driver.join()
        finished.check(f"the {duration:g} s job run", records=100)
        stats = cast(dict[str, Any], simulator.stats())
    return float(stats["calls"].get("poll", 0)) / len(stats["jobs"])


def _drive_clock(simulator: Simulator, scale: float, stop: threading.Event) -> None:
    started = time.monotonic()
    applied = 0.0
    while not stop.wait(0.005):
        target = (scale - 1) * (time.monotonic() - started)
        simulator.advance(target - applied)
        applied = target


def polls(sizes: Sizes, workdir: Path, measured_first: float, table: Table) -> None:
    defaults = Polling()
    measured: dict[float, float] = {}
    for duration in sizes.poll_durations:
        if duration == sizes.job_seconds:
            measured[duration] = measured_first  # measured in real time in section 3
        else:
            measured[duration] = scaled_polls(duration, sizes.scaled_real_seconds, workdir)
    for duration, count in measured.items():
        expected = scheduled_polls(duration, defaults)
        how = "real time" if duration == sizes.job_seconds else "simulated time"
        table.add(
            f"polls per job of {duration:g} s ({how})",
            f"{count:.1f}",
            f"schedule says {expected}",
            abs(count - expected) <= 1,
        )
    durations = sorted(measured)
    growths = [measured[b] / measured[a] for a, b in itertools.pairwise(durations)]
    table.add(
        "polls growth per 10x job duration",
        " / ".join(f"{g:.1f}x" for g in growths),
        "logarithmic, not 10x",
        all(g < 3 for g in growths),
    )


# -- the whole run -------------------------------------------------------------------------------


def print_profile(path: Path, top: int = 20) -> None:
    stats = pstats.Stats(str(path))
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    ranked = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:top]
    print(f"\ncProfile of the tap variant: top {top} functions by own time ({total:.2f} s in all)")
    print(f"{'share':>6} {'own s':>7} {'cum s':>7} {'calls':>10}  function")
    for (filename, line, name), (_, calls, own, cumulative, _) in ranked:
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        print(
            f"{own / total:6.1%} {own:7.2f} {cumulative:7.2f} {calls:10,}  {name} ({where}:{line})"
        )


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, singer-sdk "
        f"{version('singer-sdk')}, msgspec {version('msgspec')}; load average at start {load}"
    )


SECTIONS = ("parse", "runs", "cost", "pipeline")


def section_names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown or not names:
        msg = f"sections are among {', '.join(SECTIONS)}; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--rows", type=int, help="rows of the throughput page")
    parser.add_argument("--repeat", type=int, help="runs of each throughput variant")
    parser.add_argument("--profile", action="store_true", help="also profile the tap variant")
    parser.add_argument(
        "--pipeline-records", type=int, help="records of the Meltano pipeline runs (section 6)"
    )
    parser.add_argument(
        "--only",
        type=section_names,
        default=SECTIONS,
        metavar="NAMES",
        help="comma-separated sections to run: parse (1), runs (2 to 4), cost (5), pipeline (6)",
    )
    hidden = argparse.SUPPRESS
    parser.add_argument("--child", choices=VARIANTS, help=hidden)
    for option in ("--page", "--member", "--catalog", "--result", "--profile-out"):
        parser.add_argument(option, help=hidden)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    sizes = QUICK if args.quick else FULL
    rows = args.rows or sizes.rows
    repeat = args.repeat or sizes.repeat
    args.rows = rows
    started = time.perf_counter()
    print(machine(), flush=True)
    table = Table()
    later = COST_QUICK if args.quick else COST_FULL
    if args.pipeline_records:
        later = dataclasses.replace(later, pipeline_records=args.pipeline_records)
    with tempfile.TemporaryDirectory(prefix="tap-zoho-bulk-benchmark-") as directory:
        workdir = Path(directory)
        if "parse" in args.only or args.profile:
            page = write_page(workdir, rows)
        if "parse" in args.only:
            throughput(page, workdir, repeat, table)
        if "runs" in args.only:
            stats = memory_and_cost(sizes, workdir, table)
            first_polls = concurrency(sizes, workdir, table)
            table.section("4. Cost, from the simulator's stats")
            cost(stats, sizes.big, table)
            polls(sizes, workdir, first_polls, table)
        if "cost" in args.only:
            incremental_cost(later, workdir, table)
        if "pipeline" in args.only:
            pipeline(later, workdir, table)
        profile = workdir / "tap.prof"
        if args.profile:
            run_variant(page, workdir, "tap", profile_out=profile)
        print()
        print(table.render())
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(
            f"\n(whole benchmark: {time.perf_counter() - started:.0f} s; load average now {load})"
        )
        if args.profile:
            print_profile(profile)


if __name__ == "__main__":
    main()
