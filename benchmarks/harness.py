"""What every section of the benchmark shares: the printed table, child processes whose
stdout is drained here, their CPU and memory read from /proc, and the simulator's console script
running in a process of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MODULE = "Leads"
SIX_MODULES = ["Accounts", "Contacts", "Deals", "Leads", "Shipments", "Tasks"]
RECORD_MARK = b'{"type":"RECORD"'


# -- the table ----------------------------------------------------------------------------------


@dataclass
class Table:
    """Section headers and rows of (what, measured, target, PASS/FAIL or blank)."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.rows.append((title, "", "", ""))

    def add(self, what: str, measured: str, target: str = "", passed: bool | None = None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        self.rows.append(("  " + what, measured, target, verdict))

    def render(self) -> str:
        body = [row for row in self.rows if row[1] or row[2]]
        widths = [max(len(row[i]) for row in body) for i in range(4)]
        lines = []
        for what, measured, target, verdict in self.rows:
            if not measured and not target:
                lines.append(what)
                continue
            lines.append(
                f"{what:<{widths[0]}}  {measured:>{widths[1]}}  {target:<{widths[2]}}  {verdict}"
            )
        return "\n".join(line.rstrip() for line in lines)


# -- child processes: draining their stdout ----------------------------------------------------


def drain(stream: IO[bytes]) -> tuple[int, int]:
    """Read a child's stdout to the end like a fast target would; count RECORD lines and bytes."""
    fd = stream.fileno()
    records = size = 0
    tail = b""
    keep = len(RECORD_MARK) - 1
    while chunk := os.read(fd, 1 << 20):
        size += len(chunk)
        data = tail + chunk
        records += data.count(RECORD_MARK)
        tail = data[-keep:]
    return records, size


def descendants(pid: int) -> list[int]:
    """Live descendants of a process, from /proc."""
    found: list[int] = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            for child_pid in map(int, tasks.read_text().split()):
                found += [child_pid, *descendants(child_pid)]
    return found


def proc_cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of a live process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(value) for value in fields[11:15])


def tree_pss_mb(pid: int) -> float:
    """The memory of a process and its live descendants: the sum of their proportional set
    sizes, in which a page shared by n processes (the fork server's, libraries) counts 1/n
    in each."""
    total_kb = 0
    for member in (pid, *descendants(pid)):
        with contextlib.suppress(OSError, StopIteration):
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
            total_kb += int(next(line for line in rollup if line.startswith("Pss:")).split()[1])
    return total_kb / 1024


@dataclass
class Finished:
    """A child that has exited: what it wrote and what it cost."""

    returncode: int
    records: int
    stdout_bytes: int
    wall: float
    max_rss_mb: float
    #: The largest summed PSS of the child and its descendants, sampled every 20 ms.
    tree_pss_mb: float
    log: Path

    def check(self, what: str, records: int | None = None) -> None:
        if self.returncode != 0:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{what} exited with {self.returncode}; its log ends with:\n{tail}")
        if records is not None and self.records != records:
            raise SystemExit(f"{what} emitted {self.records} RECORD lines, expected {records}")


def run_child(command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> Finished:
    """Run a command with stdout drained here and stderr to `log`; peak RSS from its rusage."""
    started = time.perf_counter()
    with log.open("wb") as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, env=None if env is None else dict(env)
        )
        assert process.stdout is not None
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], tree_pss_mb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        records, size = drain(process.stdout)
        done.set()
        sampler.join()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
    return Finished(
        returncode=process.returncode,
        records=records,
        stdout_bytes=size,
        wall=time.perf_counter() - started,
        max_rss_mb=usage.ru_maxrss / 1024,
        tree_pss_mb=peak[0],
        log=log,
    )


def run_tap(config: Mapping[str, Any], workdir: Path, name: str) -> Finished:
    """A whole tap run, exactly as a user starts it."""
    path = workdir / f"{name}.config.json"
    path.write_text(json.dumps(config))
    return run_child(
        [sys.executable, "-m", "tap_zoho_bulk", "--config", str(path)], workdir / f"{name}.log"
    )


# -- the simulator in its own process ---------------------------------------------------------


@dataclass
class SimulatorProcess:
    """The `tap-zoho-bulk-simulator` console script, running."""

    process: subprocess.Popen[bytes]
    info: dict[str, str]

    def tap_config(self, **extra: Any) -> dict[str, Any]:
        keys = ("client_id", "client_secret", "refresh_token", "accounts_url", "api_domain")
        return {**{key: self.info[key] for key in keys}, **extra}

    def stats(self) -> dict[str, Any]:
        return self.admin("stats")

    def admin(self, action: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET `/__simulator__/<action>`, or POST `payload` to it."""
        request = urllib.request.Request(self.info["base_url"] + "/__simulator__/" + action)
        if payload is not None:
            request.data = json.dumps(payload).encode()
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, Any] = json.load(answer)
        return result

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextlib.contextmanager
def simulator_process(workdir: Path, name: str, *flags: str) -> Iterator[SimulatorProcess]:
    script = Path(sys.executable).with_name("tap-zoho-bulk-simulator")
    command = (
        [str(script)] if script.exists() else [sys.executable, "-m", "tap_zoho_bulk.simulator"]
    )
    with (workdir / f"{name}.simulator.log").open("wb") as errors:
        process = subprocess.Popen([*command, *flags], stdout=subprocess.PIPE, stderr=errors)
        try:
            assert process.stdout is not None
            info = json.loads(process.stdout.readline())
            yield SimulatorProcess(process, info)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            if process.stdout is not None:
                process.stdout.close()
