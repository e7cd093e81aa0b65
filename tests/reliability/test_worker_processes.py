"""The worker processes that read large pages, run as users run the tap: under any TMPDIR, and
stopped with the tap's whole process group (Ctrl-C in a terminal, SIGTERM from an orchestrator).

Both come after Zoho was paid for the job, so the tap must neither crash nor leave a traceback
that hides what it logged about the run's end.
"""

from __future__ import annotations

import logging
import multiprocessing.util
import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from tap_zoho_bulk.results import pool as pool_module
from tap_zoho_bulk.results.pool import ParsePool
from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import TAP, assert_exact, run_tap, write_json
from tests.tap.harness import config_for, simulator
from tests.tap.test_parallel import process_state, read_through
from tests.tap.test_records import random_csv, sequential, write_zip

#: One page of Leads whose ZIP is over 4 MB (`streams.PARALLEL_BYTES`), so workers read it.
RECORDS = 30_000
TMPDIR_LENGTH = 100


@pytest.fixture(scope="module")
def big_page() -> Iterator[Simulator]:
    with simulator(seed=5, records=RECORDS, page_size=200_000) as sim:
        yield sim


def pool_config(sim: Simulator) -> dict[str, object]:
    return {**config_for(sim, modules=["Leads"]), "parse_processes": 2}


def test_a_long_tmpdir_leaves_the_workers_a_socket_path_that_fits(
    tmp_path: Path, big_page: Simulator
) -> None:
    # multiprocessing's fork server listens on a socket under TMPDIR; sun_path holds 107 bytes.
    tmpdir = tmp_path / ("t" * (TMPDIR_LENGTH - len(str(tmp_path)) - 1))
    tmpdir.mkdir()
    assert len(str(tmpdir)) == TMPDIR_LENGTH
    run = run_tap(tmp_path, pool_config(big_page), env={"TMPDIR": str(tmpdir)})
    assert run.returncode == 0, run.stderr
    assert "worker processes" in run.stderr
    assert "AF_UNIX" not in run.stderr
    assert "Traceback" not in run.stderr
    assert_exact(run.result, big_page, ["Leads"])


@pytest.fixture
def deep_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A TMPDIR too deep for the fork server's socket, in a process whose multiprocessing has
    made no temporary folder yet (this one's may have: the decision is once per process)."""
    deep = str(tmp_path / ("t" * TMPDIR_LENGTH))
    monkeypatch.setattr(tempfile, "tempdir", deep)
    monkeypatch.setattr(
        multiprocessing.util, "get_temp_dir", lambda: tempfile.mkdtemp(prefix="pymp-")
    )
    pool_module._fork_server_can_listen.cache_clear()
    yield deep
    pool_module._fork_server_can_listen.cache_clear()


def test_multiprocessing_alone_moves_to_the_first_short_writable_temp_dir(
    tmp_path: Path, deep_tmpdir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "short").mkdir()
    folders = (str(tmp_path / "missing"), str(tmp_path / "short"))
    monkeypatch.setattr(pool_module, "_SHORT_TEMP_DIRS", folders)
    assert pool_module._fork_server_can_listen()
    assert [p.name[:5] for p in (tmp_path / "short").iterdir()] == ["pymp-"]
    assert tempfile.tempdir == deep_tmpdir  # where the tap's own files go


def test_without_a_short_temp_dir_large_pages_are_read_in_the_taps_process(
    tmp_path: Path,
    deep_tmpdir: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(pool_module, "_SHORT_TEMP_DIRS", (str(tmp_path / "missing"),))
    content = random_csv(random.Random(8), 300)
    pool = ParsePool(2)
    try:
        with caplog.at_level(logging.WARNING, logger=pool_module.__name__):
            for _ in range(2):
                assert read_through(pool, write_zip(tmp_path, content)) == sequential(content)[1:]
    finally:
        pool.shutdown()
    assert [r.getMessage() for r in caplog.records] == [
        "Reading large result files in the tap's own process: the worker processes' socket "
        f"cannot be made in TMPDIR ({deep_tmpdir} is too long for a socket path) nor in "
        f"any of {tmp_path / 'missing'}."
    ]


def test_a_worker_ends_on_the_taps_sigterm_only() -> None:
    # The group's SIGTERM is the tap's to handle; the pool's own (once a worker died) is not.
    pool = ParsePool(1)
    try:
        worker = pool.submit(os.getpid).result(timeout=30)
        subprocess.run(["kill", "-TERM", str(worker)], check=True, timeout=10)
        time.sleep(0.2)
        assert pool.submit(os.getpid).result(timeout=30) == worker
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process_state(worker) not in {None, "Z"} and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BrokenProcessPool):
            pool.submit(os.getpid).result(timeout=30)
    finally:
        pool.shutdown()


def group(pgid: int) -> dict[int, str]:
    """Running (not zombie) processes of a process group, with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found[int(stat.parent.name)] = command
    return found


def fork_server_started(members: dict[int, str]) -> bool:
    """Caught while it imports what workers need, before multiprocessing makes it ignore ^C."""
    return any("forkserver" in command for command in members.values())


def workers_started(members: dict[int, str]) -> bool:
    """The fork server and both workers forked from it (they keep its command line)."""
    return sum("forkserver" in command for command in members.values()) >= 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "moment", [fork_server_started, workers_started], ids=["fork-server", "workers"]
)
def test_a_signal_to_the_process_group_gets_no_traceback_and_leaves_no_process(
    tmp_path: Path,
    big_page: Simulator,
    signum: signal.Signals,
    moment: Callable[[dict[int, str]], bool],
) -> None:
    # How the tap then exits is the tap's own process's business: workers must stay quiet.
    command = [*TAP, "--config", str(write_json(tmp_path / "config.json", pool_config(big_page)))]
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("wb") as stderr:
        tap = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not moment(group(tap.pid)) and tap.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert tap.poll() is None, "the tap ended before it could be signalled"
        assert moment(group(tap.pid)), stderr_path.read_text()
        os.killpg(tap.pid, signum)
        tap.wait(timeout=30)
    finally:
        if tap.poll() is None:
            os.killpg(tap.pid, signal.SIGKILL)
            tap.wait(timeout=10)
    deadline = time.monotonic() + 10
    while (left := group(tap.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    text = stderr_path.read_text()
    assert "Traceback" not in text, text
    assert "KeyboardInterrupt" not in text, text
    assert "died" not in text, text  # the signal was for the tap, not a worker's death
    assert not left, f"processes left running: {left}"
