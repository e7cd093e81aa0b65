"""One sync: the machinery the module streams share, and how the run ends.

The tap builds one `Run` and hands it to every module stream. It holds the bulk reader (the
jobs of every module, in background threads), the worker processes that read large result
files, the modules that failed, and whether a signal asked the run to stop; it cleans all of
that up when the sync ends, however it ends. Only the main thread calls it, except `interrupt`,
which runs in the signal handler.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tap_zoho_bulk.errors import ZohoTapError
from tap_zoho_bulk.results.pool import ParsePool
from tap_zoho_bulk.singer.summary import Summary

if TYPE_CHECKING:
    from tap_zoho_bulk.zoho.jobs import ExportPlan, JobStats
    from tap_zoho_bulk.zoho.reader import BulkReader


class Interrupted(SystemExit):
    """SIGTERM or SIGINT ended the run; it exits 128 + the signal's number (143, 130).

    A SystemExit, so that nothing on the way up mistakes it for an error to report or to
    survive, and the process exits with that code and no traceback.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


class ModulesFailed(ZohoTapError):
    """Some modules failed for good; every other module was emitted with its STATE."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        super().__init__(
            f"{len(failures)} module(s) failed, each logged above: {', '.join(failures)}. "
            "Every other module was synced; the next run resumes the failed ones from STATE."
        )


@dataclass
class _Publisher:
    """How the run tells a module stream that its open jobs changed (main thread only)."""

    stream: str
    publish: Callable[[BulkReader], None]


class Run:
    """What one sync shares between its module streams, and its cleanup."""

    def __init__(
        self, *, started_at: datetime, logger: logging.Logger, start: Callable[[], None]
    ) -> None:
        #: The exclusive end of every incremental window in this run, fixed before any stream
        #: exists so that it is below the SDK's bookmark signpost.
        self.started_at = started_at
        self.logger = logger
        self.reader: BulkReader | None = None
        self._start = start
        self._started = False
        self._parse_processes = 0
        self._pool: ParsePool | None = None
        self._publishers: list[_Publisher] = []
        self.failures: dict[str, str] = {}
        self.summary = Summary()
        self.signum: int | None = None
        #: True while the sync writes Singer messages: a signal is then acted on at the next
        #: safe point (between whole pieces of output, while waiting, at the end), never in
        #: the middle of a write, which would cut a line.
        self.deferring_signals = False

    def open(self) -> BulkReader | None:
        """The run's reader, every export started the first time anything asks for it (the
        tap's sync does; singer-sdk's dry runs reach the streams directly); None when no
        module stream has anything to export."""
        if not self._started:
            self._started = True
            self._start()
        return self.reader

    def start(
        self,
        reader: BulkReader,
        plans: Sequence[tuple[ExportPlan, Callable[[BulkReader], None]]],
        parse_processes: int,
    ) -> None:
        """Start every plan's export; each comes with how its stream shows its open jobs."""
        self.reader = reader
        self._parse_processes = parse_processes
        self._publishers = [_Publisher(plan.stream, publish) for plan, publish in plans]
        reader.start([plan for plan, _ in plans])

    def jobs(self) -> list[JobStats]:
        """Every bulk read job this run created, so far."""
        return list(self.reader.jobs) if self.reader is not None else []

    def parse_pool(self) -> ParsePool | None:
        """Worker processes that read large result files, started the first time one is read;
        None when `parse_processes` is 0."""
        if self._pool is None and self._parse_processes > 0:
            self._pool = ParsePool(
                self._parse_processes,
                preload=("tap_zoho_bulk.results.reader", "tap_zoho_bulk.singer.emit"),
            )
            self.logger.info(
                "Reading large result files in %d worker processes.", self._parse_processes
            )
        return self._pool

    def interrupt(self, signum: int) -> None:
        """A signal asked the run to stop: no more jobs are created from now on."""
        first = self.signum is None
        self.signum = signum
        if self.reader is not None:
            self.reader.stopping.set()
            self.reader.slots.wake()
        if first:
            self.logger.warning(
                "Received %s: stopping after the current piece of output; no new bulk job "
                "will be created.",
                signal.Signals(signum).name,
            )

    def check(self) -> None:
        """Raise `Interrupted` at a safe point of the output if a signal asked to stop."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    def publish_jobs(self) -> bool:
        """Show every stream's open jobs in its state; True when there was news to write."""
        reader = self.reader
        if reader is None or not reader.jobs_changed.is_set():
            return False
        reader.jobs_changed.clear()
        for publisher in self._publishers:
            publisher.publish(reader)
        return True

    def fail(self, stream: str, error: ZohoTapError) -> None:
        """Remember a module that failed for good; the others go on."""
        self.failures[stream] = str(error)
        self.logger.error("'%s' failed: %s", stream, error)

    def stop_jobs(self) -> None:
        """Stop creating jobs and let every create under way finish, so that STATE can list
        every job this run paid for."""
        if self.reader is not None:
            self.reader.stop()
        self.publish_jobs()

    def log_summary(self, credits_by_stream: Mapping[str, int]) -> None:
        """The run's closing account, once any stream was synced."""
        if self.summary.tallies:
            self.summary.log(
                self.logger,
                jobs=self.jobs(),
                credits_by_stream=credits_by_stream,
                failed=self.failures,
                interrupted=self.signum is not None,
            )

    def close(self) -> None:
        """Stop the exports and the worker processes and delete every temporary file."""
        if self.reader is not None:
            self.reader.close()
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
