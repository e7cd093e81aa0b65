"""Sections 5 and 6 of benchmark.py: what frequent syncs of almost nothing cost, and a whole
Meltano pipeline with and without the tap's worker processes.

5. Cost and latency of incremental runs. A simulator process (the console script; its Bulk Read
   jobs take `job_seconds` from creation to completion) holds `base` records per module. A first
   tap run reads Leads through Bulk Read and leaves a bookmark. Then, for each change (nothing,
   10, 1,000, 50,000 new Leads, added through the simulator's admin `mutate`), the tap runs once
   with `read_mode: auto` and once with `read_mode: bulk`, each from its own bookmark, on the
   same data. Every run is a whole tap process (`--config --catalog --state`) given the catalog
   of one `--discover` made before any figure, as Meltano passes one; the catalog selects the
   module and `deleted_records` (`track_deletions` on, the default). Credits are the simulator's
   `credits_used` after the run less before, split by its call counts: deletions (`deleted`
   calls at the simulator's price), metadata (`fields` and `modules` calls, 1 each) and records
   (the rest: COQL calls, Bulk Read jobs, polls, downloads). Wall time is the tap process's,
   from start to exit. The same is then measured for 6 modules with 10 new records each (in a
   fresh simulator), and the per-module figures give the daily credits of a 30-module org
   synced every 15 minutes.
6. Pipeline. `meltano run tap-zoho-bulk target-jsonl` in a copy of this project (`meltano install`
   of the two plugins), against a simulator process with instant jobs, once with the tap's
   worker processes (`parse_processes` unset: one per CPU) and once without (`parse_processes:
   0`). The tap and the target are started through a wrapper (their `executable` in the copy's
   meltano.yml) that is the subreaper of everything under it and reports the CPU time of its
   whole tree from rusage once every process in it has exited: the tap's fork server and
   workers included. Meltano's own CPU (it relays every message from tap to target) is the rest
   of its rusage; the simulator's comes from /proc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from harness import (
    MODULE,
    RECORD_MARK,
    SIX_MODULES,
    Finished,
    SimulatorProcess,
    Table,
    proc_cpu_ticks,
    simulator_process,
)

from tap_zoho_bulk.simulator.server import DELETED_RECORDS_CREDITS
from tap_zoho_bulk.singer.settings import parse_processes
from tap_zoho_bulk.zoho.coql import AUTO_REACH

ROOT = Path(__file__).resolve().parents[1]
STATE_MARK = b'{"type":"STATE"'
READ_MODES = ("auto", "bulk")
METADATA_CALLS = ("fields", "modules")
# The daily arithmetic: a 30-module org synced every 15 minutes, 10 new records per module a run.
ORG_MODULES = 30
RUNS_PER_DAY = 96
DAILY_CHANGES = 10
DAILY_TARGET = 10_000
# The tap's default of parse_processes is kept only if its workers make a pipeline this much
# faster, or cost no more CPU.
WORKERS_WORTH_IT = 1.05
PIPELINE_PAGE_SIZE = 200_000  # Zoho's records per Bulk Read page
PLUGINS = {"tap": ("extractors", "tap-zoho-bulk"), "target": ("loaders", "target-jsonl")}
PROJECT_FILES = ("meltano.yml", "pyproject.toml", "README.md", "LICENSE")
# Settings from the shell must not reach a Meltano run (Meltano reads them first).
LEAKY_PREFIXES = ("TAP_ZOHO_BULK_", "TARGET_JSONL_", "MELTANO_")


@dataclass(frozen=True)
class CostSizes:
    """Everything --quick shrinks in these two sections."""

    base: int  # records per module before the first run
    changes: tuple[int, ...]  # new records before each incremental run
    job_seconds: float
    pipeline_records: int


# The largest change is past AUTO_REACH in both: it shows where auto hands over to Bulk Read.
COST_FULL = CostSizes(1_000, (0, DAILY_CHANGES, 1_000, 50_000), 5.0, 1_000_000)
COST_QUICK = CostSizes(1_000, (0, DAILY_CHANGES, 1_000, 25_000), 2.0, 100_000)


# -- 5. cost and latency of incremental runs ----------------------------------------------------


@dataclass(frozen=True)
class Spent:
    """One whole tap run: what the simulator counted while it ran, and how long it took."""

    credits: int
    calls: Counter[str]
    wall: float
    records: int
    state: dict[str, Any]
    fallbacks: int  # windows COQL could not read, which went to Bulk Read

    @property
    def deletions(self) -> int:
        return DELETED_RECORDS_CREDITS * self.calls["deleted"]

    @property
    def metadata(self) -> int:
        return sum(self.calls[kind] for kind in METADATA_CALLS)

    @property
    def reading(self) -> int:
        """Credits on reading records: COQL calls, Bulk Read jobs, their polls and downloads."""
        return self.credits - self.deletions - self.metadata

    @property
    def jobs(self) -> int:
        return self.calls["create"]

    def shown(self, modules: int = 1) -> str:
        per = (self.reading, self.deletions, self.metadata, self.credits)
        credits = " + ".join(f"{value / modules:g}" for value in per[:3])
        jobs = f"{self.jobs / modules:g} job{'s' * (self.jobs != modules)}"
        fallback = f" (COQL refused {self.fallbacks}x)" if self.fallbacks else ""
        wall = f"{self.wall:.1f} s" + (f" for all {modules}" if modules > 1 else "")
        return f"{credits} = {per[3] / modules:g} credits, {jobs}, {wall}{fallback}"


@dataclass
class TapRuns:
    """Whole tap processes against one simulator process, each measured from its stats."""

    simulator: SimulatorProcess
    workdir: Path
    name: str
    modules: Sequence[str]

    def discover(self) -> Path:
        config = self._config(f"{self.name}-discover")
        catalog = self.workdir / f"{self.name}.catalog.json"
        with catalog.open("wb") as out:
            command = [sys.executable, "-m", "tap_zoho_bulk", "--config", str(config)]
            subprocess.run(
                [*command, "--discover"], stdout=out, stderr=subprocess.DEVNULL, check=True
            )
        return catalog

    def run(
        self,
        name: str,
        catalog: Path,
        state: Mapping[str, Any] | None,
        records: int,
        **settings: Any,
    ) -> Spent:
        """A sync with the catalog and STATE given; checks that it wrote `records` records."""
        command = [sys.executable, "-m", "tap_zoho_bulk", "--catalog", str(catalog)]
        command += ["--config", str(self._config(name, **settings))]
        if state is not None:
            path = self.workdir / f"{name}.state.json"
            path.write_text(json.dumps(state))
            command += ["--state", str(path)]
        output, log = self.workdir / f"{name}.out", self.workdir / f"{name}.log"
        before = self.simulator.stats()
        with output.open("wb") as out, log.open("wb") as errors:
            started = time.perf_counter()
            code = subprocess.run(command, stdout=out, stderr=errors, check=False).returncode
            wall = time.perf_counter() - started
        after = self.simulator.stats()
        emitted, last_state = read_output(output)
        output.unlink()
        Finished(code, emitted, 0, wall, 0.0, 0.0, log).check(name, records=records)
        return Spent(
            credits=int(after["credits_used"]) - int(before["credits_used"]),
            calls=Counter(after["calls"]) - Counter(before["calls"]),
            wall=wall,
            records=emitted,
            state=last_state,
            fallbacks=log.read_text(errors="replace").count("COQL cannot read"),
        )

    def add(self, changes: Mapping[str, int]) -> None:
        """New records, created now; the next run starts in a later second than theirs."""
        self.simulator.admin("mutate", {"add": dict(changes)})
        time.sleep(1.02 - time.time() % 1)

    def _config(self, name: str, **settings: Any) -> Path:
        path = self.workdir / f"{name}.config.json"
        config = self.simulator.tap_config(modules=list(self.modules), **settings)
        path.write_text(json.dumps(config))
        return path


def read_output(path: Path) -> tuple[int, dict[str, Any]]:
    """RECORD messages in a tap's output, and its last STATE."""
    records, state = 0, b""
    with path.open("rb") as out:
        for line in out:
            if line.startswith(RECORD_MARK):
                records += 1
            elif line.startswith(STATE_MARK):
                state = line
    if not state:
        raise SystemExit(f"{path.name}: the tap wrote no STATE")
    value: dict[str, Any] = json.loads(state)["value"]
    return records, value


def sweep(
    sizes: CostSizes, workdir: Path, name: str, modules: Sequence[str], changes: Sequence[int]
) -> tuple[Spent, dict[tuple[int, str], Spent]]:
    """A first run of `modules`, then for each change (new records per module) one incremental
    run in each read mode, each mode from its own bookmark, all against one fresh simulator."""
    flags = ["--records", str(sizes.base), "--job-seconds", f"{sizes.job_seconds:g}"]
    # Runs come seconds apart here, not 15 minutes: Zoho's 10 downloads a minute would make
    # the later ones wait for the earlier ones' minute.
    flags += ["--download-limit", "1000"]
    with simulator_process(workdir, name, *flags) as simulator:
        runs = TapRuns(simulator, workdir, name, modules)
        catalog = runs.discover()
        first = runs.run(f"{name}-first", catalog, None, sizes.base * len(modules))
        states = dict.fromkeys(READ_MODES, first.state)
        measured: dict[tuple[int, str], Spent] = {}
        for added in changes:
            if added:
                runs.add(dict.fromkeys(modules, added))
            for mode in READ_MODES:
                spent = runs.run(
                    f"{name}-{added}-{mode}",
                    catalog,
                    states[mode],
                    added * len(modules),
                    read_mode=mode,
                )
                states[mode], measured[added, mode] = spent.state, spent
    return first, measured


def incremental_cost(sizes: CostSizes, workdir: Path, table: Table) -> None:
    """Section 5."""
    started = time.perf_counter()
    seconds = sizes.job_seconds
    first, measured = sweep(sizes, workdir, "cost", [MODULE], sizes.changes)
    _, in_six = sweep(sizes, workdir, "cost-six", SIX_MODULES, [DAILY_CHANGES])
    six = {mode: in_six[DAILY_CHANGES, mode] for mode in READ_MODES}
    table.section(
        f"5. Cost and latency of incremental runs of {MODULE}: whole tap processes with a catalog "
        f"from one --discover, track_deletions on, jobs of {seconds:g} s"
    )
    table.add(
        "credits: records + deletions + metadata = total; Bulk Read jobs; wall of the tap process",
        "",
        "target",
    )
    table.add(f"first run, {sizes.base:,} records (no bookmark: Bulk Read)", first.shown())
    for added in sizes.changes:
        what = f"{added:,} new records" if added else "no change"
        for mode in READ_MODES:
            spent = measured[added, mode]
            target, passed = cost_target(added, mode, spent, seconds)
            table.add(f"{what}, read_mode {mode}", spent.shown(), target, passed)
    leads_alone = measured[DAILY_CHANGES, "auto"]
    for mode in READ_MODES:
        spent = six[mode]
        alike = spent.credits == len(SIX_MODULES) * leads_alone.credits
        table.add(
            f"{len(SIX_MODULES)} modules x {DAILY_CHANGES} new, read_mode {mode}, per module",
            spent.shown(len(SIX_MODULES)),
            f"= {MODULE} alone ({leads_alone.credits})" if mode == "auto" else "",
            alike if mode == "auto" else None,
        )
    daily(measured, table)
    table.add("section time", f"{time.perf_counter() - started:.0f} s")


def cost_target(added: int, mode: str, spent: Spent, job_seconds: float) -> tuple[str, bool | None]:
    """The issue's target for a run, where it sets one: read_mode auto only."""
    if mode != "auto":
        return "", None
    if added == 0:
        return "records <= 1, no job", spent.reading <= 1 and spent.jobs == 0
    if added <= DAILY_CHANGES:
        fast = spent.wall < job_seconds
        return (
            f"records <= 5, no job, < {job_seconds:g} s (a job's wait)",
            spent.reading <= 5 and spent.jobs == 0 and fast,
        )
    if added > AUTO_REACH:
        return f"Bulk Read (> {AUTO_REACH:,})", spent.jobs > 0
    return f"no job (<= {AUTO_REACH:,})", spent.jobs == 0


def daily(measured: Mapping[tuple[int, str], Spent], table: Table) -> None:
    """Credits a day of an org synced every 15 minutes, from the per-module figures above."""
    runs = ORG_MODULES * RUNS_PER_DAY
    for mode in READ_MODES:
        spent = measured[DAILY_CHANGES, mode]
        parts = [runs * spent.reading, runs * spent.deletions, runs * spent.metadata]
        total = runs * spent.credits
        label = (
            f"a day: {ORG_MODULES} modules x {RUNS_PER_DAY} runs (every 15 min), "
            f"{DAILY_CHANGES} new records per module a run, read_mode {mode}"
        )
        table.add(
            label,
            f"{' + '.join(f'{part:,}' for part in parts)} = {total:,} credits",
            f"< {DAILY_TARGET:,}, deletions included" if mode == "auto" else "",
            total < DAILY_TARGET if mode == "auto" else None,
        )
    auto = measured[DAILY_CHANGES, "auto"]
    table.add(
        "  of which per module a run, read_mode auto: records / deletions / metadata",
        f"{auto.reading} / {auto.deletions} / {auto.metadata} credits",
    )


# -- 6. a whole Meltano pipeline, with and without the tap's workers ------------------------------

WRAPPER = '''#!{python}
"""{plugin} as Meltano starts it, with the CPU time of every process under it appended to {log}."""
import ctypes, json, os, resource, subprocess, sys, time

# PR_SET_CHILD_SUBREAPER: orphans (the tap's fork server, its resource tracker) come here.
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
started = time.perf_counter()
code = subprocess.call([{real!r}, *sys.argv[1:]])
wall = time.perf_counter() - started
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open({log!r}, "a") as out:
    entry = {{"plugin": {plugin!r}, "argv": sys.argv[1:], "wall": wall}}
    out.write(json.dumps({{**entry, "cpu": usage.ru_utime + usage.ru_stime}}) + "\\n")
sys.exit(code)
'''


@dataclass
class MeltanoProject:
    root: Path
    cpu_log: Path
    install_seconds: float = 0.0

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
        return {**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}

    def venv(self, plugin: str) -> Path:
        kind, name = PLUGINS[plugin]
        return self.root / ".meltano" / kind / name / "venv"

    def executable(self, plugin: str) -> Path:
        return self.venv(plugin) / "bin" / PLUGINS[plugin][1]

    def version(self, plugin: str) -> str:
        pattern = f"lib/python*/site-packages/{PLUGINS[plugin][1].replace('-', '_')}-*.dist-info"
        found = (path.name.removesuffix(".dist-info") for path in self.venv(plugin).glob(pattern))
        return next((name.split("-")[1] for name in found), "?")


def meltano() -> str:
    return str(Path(sys.executable).with_name("meltano"))


def install_project(workdir: Path) -> MeltanoProject:
    """A copy of the project with the tap and target-jsonl installed, each behind a wrapper."""
    root = workdir / "meltano-project"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tap_zoho_bulk", root / "tap_zoho_bulk", ignore=ignore)
    project = MeltanoProject(root, workdir / "plugin-cpu.jsonl")
    started = time.perf_counter()
    command = [meltano(), "install", *(name for _, name in PLUGINS.values())]
    subprocess.run(command, cwd=root, env=project.env({}), capture_output=True, check=True)
    project.install_seconds = time.perf_counter() - started
    meltano_yml = (root / "meltano.yml").read_text()
    for plugin, (_, name) in PLUGINS.items():
        wrapper = workdir / f"{name}-measured"
        real, log = str(project.executable(plugin)), str(project.cpu_log)
        wrapper.write_text(WRAPPER.format(python=sys.executable, plugin=plugin, real=real, log=log))
        wrapper.chmod(0o755)
        line = f"executable: {name}\n"
        if line not in meltano_yml:
            raise SystemExit(f"meltano.yml has no line '{line.strip()}' to put the wrapper on")
        meltano_yml = meltano_yml.replace(line, f"executable: {wrapper}\n", 1)
    (root / "meltano.yml").write_text(meltano_yml)
    return project


def warm_up(project: MeltanoProject, simulator: SimulatorProcess) -> None:
    """Start each plugin once outside the measured runs: a fresh copy of the project has no
    bytecode yet, and the first run would pay for compiling it."""
    config = project.root.parent / "warm-up.config.json"
    config.write_text(json.dumps(simulator.tap_config(modules=[MODULE])))
    tap = [str(project.executable("tap")), "--config", str(config), "--discover"]
    subprocess.run(tap, capture_output=True, check=True)
    subprocess.run([str(project.executable("target"))], input=b"", capture_output=True, check=True)


@dataclass(frozen=True)
class Pipeline:
    """One `meltano run`, measured."""

    rows: int
    wall: float  # `meltano run`, start to exit
    tap_wall: float  # the tap's sync, start to exit
    tap_cpu: float  # the sync, with its workers
    discovery_cpu: float  # Meltano's --discover calls of the tap before it
    target_cpu: float
    meltano_cpu: float
    simulator_cpu: float

    @property
    def rate(self) -> float:
        return self.rows / self.wall

    @property
    def cpu(self) -> float:
        return self.tap_cpu + self.discovery_cpu + self.target_cpu + self.meltano_cpu

    def shown_cpu(self) -> str:
        parts = (self.tap_cpu, self.discovery_cpu, self.target_cpu, self.meltano_cpu)
        return " / ".join(f"{part:.1f}" for part in parts) + f" / {self.simulator_cpu:.1f}"


def meltano_run(
    project: MeltanoProject,
    simulator: SimulatorProcess,
    name: str,
    settings: Mapping[str, str],
    records: int,
) -> Pipeline:
    """`meltano run` with these tap settings; checks that the target wrote `records` rows."""
    destination = project.root / f"output-{name}"
    env = {
        "TAP_ZOHO_BULK_USE_SIMULATOR": "false",
        "TAP_ZOHO_BULK_MODULES": json.dumps([MODULE]),
        "TARGET_JSONL_DESTINATION_PATH": str(destination),
        **{f"TAP_ZOHO_BULK_{key.upper()}": value for key, value in settings.items()},
        **{f"TAP_ZOHO_BULK_{key.upper()}": value for key, value in simulator.tap_config().items()},
    }
    project.cpu_log.unlink(missing_ok=True)
    command = [meltano(), "run", "--full-refresh", "--no-state-update"]
    command += [name for _, name in PLUGINS.values()]
    log = project.root.parent / f"pipeline-{name}.log"
    ticks = proc_cpu_ticks(simulator.process.pid)
    with log.open("wb") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=project.root, env=project.env(env), stdout=errors, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    simulator_cpu = (proc_cpu_ticks(simulator.process.pid) - ticks) / os.sysconf("SC_CLK_TCK")
    code = os.waitstatus_to_exitcode(status)
    rows = count_lines(destination / f"{MODULE}.jsonl") if code == 0 else 0
    Finished(code, rows, 0, wall, 0.0, 0.0, log).check(f"meltano run ({name})", records)
    shutil.rmtree(destination)
    entries = [json.loads(line) for line in project.cpu_log.read_text().splitlines()]
    tap = [e for e in entries if e["plugin"] == "tap" and "--discover" not in e["argv"]]
    discovery = [e for e in entries if e["plugin"] == "tap" and "--discover" in e["argv"]]
    target = [e for e in entries if e["plugin"] == "target"]
    if len(tap) != 1 or len(target) != 1:
        raise SystemExit(
            f"meltano run ({name}): expected one tap and one target run, got {entries}"
        )
    plugins_cpu = sum(e["cpu"] for e in entries)
    return Pipeline(
        rows=rows,
        wall=wall,
        tap_wall=tap[0]["wall"],
        tap_cpu=sum(e["cpu"] for e in tap),
        discovery_cpu=sum(e["cpu"] for e in discovery),
        target_cpu=sum(e["cpu"] for e in target),
        meltano_cpu=usage.ru_utime + usage.ru_stime - plugins_cpu,
        simulator_cpu=simulator_cpu,
    )


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 24), b""):
            lines += chunk.count(b"\n")
    return lines


def pipeline(sizes: CostSizes, workdir: Path, table: Table) -> None:
    """Section 6."""
    started = time.perf_counter()
    records = sizes.pipeline_records
    project = install_project(workdir)
    flags = ["--records", "0", "--per-module", f"{MODULE}={records}"]
    flags += ["--page-size", str(PIPELINE_PAGE_SIZE)]
    workers = parse_processes({})
    variants = {
        f"workers on (parse_processes unset: {workers} here)": {},
        "workers off (parse_processes: 0)": {"parse_processes": "0"},
    }
    measured: dict[str, Pipeline] = {}
    with simulator_process(workdir, "pipeline", *flags) as simulator:
        warm_up(project, simulator)
        for label, settings in variants.items():
            name = "on" if settings == {} else "off"
            measured[label] = meltano_run(project, simulator, name, settings, records)
    table.section(
        f"6. Pipeline: meltano run tap-zoho-bulk target-jsonl (Meltano {version('meltano')}, "
        f"target-jsonl {project.version('target')}), {records:,} {MODULE} records, simulator "
        f"process, instant jobs, pages of {PIPELINE_PAGE_SIZE:,}"
    )
    for label, run in measured.items():
        table.add(
            label, f"{run.rate:,.0f} rows/s in {run.wall:.1f} s (tap's sync {run.tap_wall:.1f} s)"
        )
        table.add("  CPU s: tap / its discovery / target / meltano / simulator", run.shown_cpu())
    on, off = measured.values()
    table.add(
        "on / off: rows/s, tap CPU, CPU of all but the simulator",
        f"{on.rate / off.rate:.2f}, {on.tap_cpu / off.tap_cpu:.2f}, {on.cpu / off.cpu:.2f}",
    )
    table.add("default of parse_processes", *recommendation(on, off, workers))
    table.add(
        "meltano install of the two plugins (not in the runs)", f"{project.install_seconds:.1f} s"
    )
    table.add("section time", f"{time.perf_counter() - started:.0f} s")


def recommendation(on: Pipeline, off: Pipeline, workers: int) -> tuple[str, str]:
    """Keep the workers by default only if they make the pipeline faster, or cost no more CPU."""
    gain = on.rate / off.rate - 1
    extra = on.tap_cpu - off.tap_cpu
    rule = f"on if >= {WORKERS_WORTH_IT - 1:.0%} more rows/s, or no more CPU"
    keep = on.rate / off.rate >= WORKERS_WORTH_IT or extra <= 0
    verdict = f"unset ({workers} workers)" if keep else "0 (off)"
    return f"{verdict}: {gain:+.0%} rows/s, {extra:+.1f} tap CPU s with workers", rule
