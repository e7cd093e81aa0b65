"""Result files read in worker processes: the same lines, state and problem reports as here."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from singer_sdk.singerlib.encoding.simple import RecordMessage

from tap_zoho_bulk.errors import ParseWorkerError
from tap_zoho_bulk.results import pieces as pieces_module
from tap_zoho_bulk.results.archive import open_result_member
from tap_zoho_bulk.results.batch import Batch
from tap_zoho_bulk.results.pool import ParsePool
from tap_zoho_bulk.results.reader import RecordReader
from tap_zoho_bulk.singer import streams as streams_module
from tap_zoho_bulk.singer.emit import Envelope, RecordLines, Ties
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tap_zoho_bulk.singer.writer import BufferedMsgSpecWriter
from tests.tap.harness import config_for, next_second, run_cli, simulator, sync
from tests.tap.test_records import MEMBER, TEXT_SCHEMA, random_csv, sequential, write_zip

LOGGER = "tap_zoho_bulk.results.reader"


@pytest.fixture(scope="module")
def pool() -> Iterator[ParsePool]:
    workers = ParsePool(2)
    yield workers
    workers.shutdown()


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of a few KB, so that small test files are read by many workers' pieces."""
    monkeypatch.setattr(pieces_module, "_CHUNK_SIZE", 4096)


def read_through(
    pool: ParsePool, path: Path, reader: RecordReader | None = None
) -> list[list[str]]:
    reader = reader or RecordReader(TEXT_SCHEMA, stream_name="Deals")
    encode = RecordLines(Envelope("Deals", None), Ties(None, None, frozenset()))
    lines = b""
    with open_result_member(path, MEMBER, max_compression_ratio=10_000) as member:
        for piece in reader.map_pieces(member, encode, pool, source=path.name):
            lines += piece.lines
    records = [json.loads(line)["record"] for line in lines.splitlines()]
    return [[r[name] or "" for name in ("Id", "A", "B", "C")] for r in records]


def test_pieces_read_in_workers_come_back_in_file_order(tmp_path, pool, small_pieces) -> None:
    content = random_csv(random.Random(3), 2000)
    assert read_through(pool, write_zip(tmp_path, content)) == sequential(content)[1:]


def test_a_record_cut_short_in_a_worker_is_read_again_with_the_next_piece(
    tmp_path, pool, monkeypatch
) -> None:
    # Stray quotes mislead the cut, so pieces end inside multi-line fields and hand back
    # their tails; the piece after each, already in flight, is read again behind the tail.
    monkeypatch.setattr(pieces_module, "_CHUNK_SIZE", 64)
    lines = ["Id,A,B,C"]
    for i in range(300):
        lines.append(f'{i},it"s,"multi\nline",x' if i % 7 == 3 else f'{i},"a\nb",plain,"q""q"')
    content = "\r\n".join(lines) + '\r\n300,x,y,"never\r\nclosed\r\n'
    assert read_through(pool, write_zip(tmp_path, content)) == sequential(content)[1:]


def test_problems_found_in_workers_are_logged_once_per_file_with_file_row_numbers(
    tmp_path, pool, small_pieces, caplog
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Id", "A", "B", "C"])
    broken = []
    for i in range(3000):
        if i % 250 == 100:
            writer.writerow([str(i), "only three", "cells"])
            broken.append(i + 1)  # record numbers count from 1
        else:
            writer.writerow([str(i), "a" * (i % 50), "b", "c"])
    reader = RecordReader(TEXT_SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = read_through(pool, write_zip(tmp_path, out.getvalue()), reader)
    assert len(rows) == 3000 - len(broken)
    assert (reader.stats.rows_read, reader.stats.rows_skipped) == (3000, len(broken))
    detailed = [r.getMessage() for r in caplog.records if "skipping record" in r.getMessage()]
    assert detailed == [
        f"Deals: skipping record {n} of {MEMBER.replace('.csv', '.zip')}: 3 columns instead of "
        f"4 (Id {n - 1})"
        for n in broken[:5]
    ]
    assert any(f"skipped {len(broken)} malformed records" in r.getMessage() for r in caplog.records)


def test_ties_filtered_in_pieces_merge_to_the_largest_key_and_all_its_ids() -> None:
    def at(second: int) -> str:
        return f"2026-01-01T00:00:0{second}+00:00"

    whole = Ties("T", at(5), frozenset({"1"}))
    batches = [
        Batch(("Id", "T"), [["1", "2"], [at(5), at(7)]]),
        Batch(("Id", "T"), [["3", "4"], [at(7), None]]),
        Batch(("Id", "T"), [["5"], [at(6)]]),
    ]
    encode = RecordLines(Envelope("S", None), whole)
    merged = whole.fresh()
    counts = []
    for batch in batches:
        piece = encode(iter([batch]))
        counts.append(piece.count)
        merged.absorb(piece.max_value, piece.max_ids)
    assert counts == [1, 2, 1]  # record 1 was emitted at the bookmark's second before
    assert (merged.max_value, merged.max_ids) == (at(7), {"2", "3"})
    state: dict[str, object] = {}
    merged.save(state, "ids")
    assert state == {"ids": ["2", "3"]}


@pytest.mark.parametrize("key", ["Created_Time", "Modified_Time"])
def test_a_sync_read_in_workers_emits_what_one_read_here_emits(
    monkeypatch: pytest.MonkeyPatch, small_pieces: None, key: str
) -> None:
    monkeypatch.setattr(streams_module, "PARALLEL_BYTES", 0)
    with simulator(seed=11, records=900, page_size=400) as sim:
        config = config_for(sim, modules=["Leads", "Deals"], replication_key=key)
        here = sync({**config, "parse_processes": 0})
        workers = sync({**config, "parse_processes": 2})
        sim.mutate(add=30, modify=40)
        next_second()
        here_next = sync({**config, "parse_processes": 0}, state=here.state)
        workers_next = sync({**config, "parse_processes": 2}, state=workers.state)

    def lines(result):
        return [(m["stream"], m["record"]) for m in result.messages if m["type"] == "RECORD"]

    assert len(lines(here)) == 1800
    assert lines(workers) == lines(here)
    assert workers.state == here.state
    bookmark = workers.state["bookmarks"]["Leads"]
    assert bookmark["replication_key_value"] == max(r[key] for r in workers.records["Leads"])
    assert lines(workers_next) == lines(here_next)
    assert workers_next.state == here_next.state
    # The second run starts from the bookmarks the workers' pieces merged: only what changed.
    expected = 30 if key == "Created_Time" else 70
    assert len(workers_next.records["Leads"]) == expected


@pytest.mark.parametrize("command", ["module", "console script"])
def test_the_command_line_reads_a_large_page_in_workers(tmp_path: Path, command: str) -> None:
    # Workers recreate __main__ from how the tap was started: `python -m tap_zoho_bulk`, or
    # the console script pip writes (which Meltano runs).
    with simulator(seed=2, records=30_000, page_size=30_000) as sim:
        config = {**config_for(sim, modules=["Leads"]), "parse_processes": 2}
        if command == "module":
            answer = run_cli([], tmp_path, config)
        else:
            (tmp_path / "config.json").write_text(json.dumps(config))
            script = Path(sys.executable).with_name("tap-zoho-bulk")
            answer = subprocess.run(
                [str(script), "--config", str(tmp_path / "config.json")],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert "in 2 worker processes" in answer.stderr
    ids = [line for line in answer.stdout.splitlines() if line.startswith('{"type":"RECORD"')]
    assert len(ids) == 30_000


@pytest.mark.parametrize("extracted", [None, datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)])
def test_record_lines_are_the_bytes_singer_sdks_writer_writes(extracted) -> None:
    keys = ("Id", "Amount", "Name", "Tags", "Active", "Owner.name")
    columns: list[list[object]] = [
        ["1", "2", "3"],
        [Decimal("1.50"), None, Decimal("-1E+3")],
        ['say "hi"\n', "東京 🚀", None],
        [["a", "b"], [], None],
        [True, False, None],
        ["x\\y", "", "\u2028"],
    ]
    batch = Batch(keys, columns)
    writer = BufferedMsgSpecWriter()
    # The writer reuses one buffer: copy each message out of it.
    expected = b"".join(
        bytes(writer.format_message(RecordMessage("Deals", record, time_extracted=extracted)))
        for record in batch.records()
    )
    assert Envelope("Deals", extracted).lines(batch) == expected


def test_a_dead_worker_stops_the_run_with_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, small_pieces: None
) -> None:
    monkeypatch.setattr(streams_module, "PARALLEL_BYTES", 0)
    with simulator(seed=4, records=300, page_size=300) as sim:
        tap = TapZohoBulk(config={**config_for(sim, modules=["Leads"]), "parse_processes": 1})
        start_pool = tap.run.parse_pool

        def killed_pool() -> ParsePool | None:
            pool = start_pool()
            assert pool is not None
            os.kill(pool.submit(os.getpid).result(), signal.SIGKILL)
            return pool

        monkeypatch.setattr(tap.run, "parse_pool", killed_pool)
        with (
            pytest.raises(ParseWorkerError, match="worker process reading 'Leads' died"),
            contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())),
        ):
            tap.sync_all()


@pytest.mark.parametrize("content", ["", "Id,A,B,C\r\n", "Id,A,B,C", '"Id,A\r\n'])
def test_files_without_records_read_through_a_pool_give_none(tmp_path, pool, content) -> None:
    assert read_through(pool, write_zip(tmp_path, content)) == []


def live_descendants(pid: int) -> set[int]:
    """Processes under `pid` that have not exited (zombies count as exited), from /proc."""
    found: set[int] = set()
    queue = [pid]
    while queue:
        for children in Path(f"/proc/{queue.pop()}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                new = {int(child) for child in children.read_text().split()} - found
                found |= new
                queue += new
    return {p for p in found if process_state(p) not in {None, "Z"}}


def process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_a_killed_tap_leaves_no_process_behind(tmp_path: Path) -> None:
    with simulator(seed=3, records=60_000, page_size=60_000) as sim:
        config = {**config_for(sim, modules=["Leads"]), "parse_processes": 2}
        (tmp_path / "config.json").write_text(json.dumps(config))
        script = Path(sys.executable).with_name("tap-zoho-bulk")
        tap = subprocess.Popen(
            [str(script), "--config", str(tmp_path / "config.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert tap.stderr is not None
        for line in tap.stderr:
            if "worker processes" in line:
                break
        deadline = time.monotonic() + 10
        while len(workers := live_descendants(tap.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) >= 3  # the fork server and its workers (and a resource tracker)
        tap.kill()
        tap.wait()
        tap.stderr.close()
        deadline = time.monotonic() + 10
        while (left := {p for p in workers if process_state(p) not in {None, "Z"}}) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.1)
    assert not left, f"processes left running after the tap was killed: {sorted(left)}"
