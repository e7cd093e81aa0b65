"""The run's closing account: one line per stream it synced, and a total.

singer-sdk's `record_count` metric is logged in slices as a stream goes and says nothing of
pages, jobs or credits; an operator reading a run's log wants, at its end, what each stream
emitted and cost, counted where it happened: records as they are written, pages as they are
emitted, jobs from the run's own list, credits from the client's ledger.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from typing_extensions import override

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_zoho_bulk.singer.run import Run
    from tap_zoho_bulk.zoho.jobs import JobStats


@dataclass
class Tally:
    """What one stream did in this run."""

    records: int = 0
    pages: int = 0
    seconds: float = 0.0


class Summary:
    """The tallies of the streams synced so far, in the order they were synced."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}
        self._started = time.monotonic()

    def of(self, stream: str) -> Tally:
        return self.tallies.setdefault(stream, Tally())

    def log(
        self,
        logger: logging.Logger,
        *,
        jobs: Iterable[JobStats],
        credits_by_stream: Mapping[str, int],
        failed: Iterable[str],
        interrupted: bool,
    ) -> None:
        """One INFO line per stream and the total (credits of calls made outside any stream,
        discovery's, are in the total only)."""
        created = Counter(job.stream for job in jobs if not job.resumed)
        taken_back = Counter(job.stream for job in jobs if job.resumed)
        failed = set(failed)
        for name, tally in self.tallies.items():
            bulk = tally.pages or created[name] or taken_back[name]
            logger.info(
                "Summary of '%s'%s: %s, %s%s, %.1f s.",
                name,
                " (FAILED)" if name in failed else "",
                _count(tally.records, "record"),
                f"{_count(tally.pages, 'page')}, {_jobs(created[name], taken_back[name])}, "
                if bulk
                else "",
                _count(credits_by_stream.get(name, 0), "credit"),
                tally.seconds,
            )
        ending = "interrupted" if interrupted else "failed" if failed else "complete"
        logger.info(
            "Summary of the run (%s): %s in %s, %s, %s, %s, %.1f s.",
            ending,
            _count(sum(t.records for t in self.tallies.values()), "record"),
            _count(len(self.tallies), "stream"),
            _count(sum(t.pages for t in self.tallies.values()), "page"),
            _jobs(sum(created.values()), sum(taken_back.values())),
            _count(sum(credits_by_stream.values()), "credit"),
            time.monotonic() - self._started,
        )


class Tallied(Stream):
    """A stream that accounts for its time in the run's summary once it is synced; the stream
    itself adds its records and pages to `tally` as it writes them."""

    _run: Run
    tally: Tally

    # singer-sdk marks sync final; this wraps it (calls it, replaces nothing), as the tap's
    # sync_all does, since no hook sees both the start and the end of a stream's sync.
    @override  # type: ignore[misc]
    def sync(self, context: Context | None = None) -> None:
        self.tally = self._run.summary.of(self.name)
        started = time.monotonic()
        try:
            super().sync(context)
        finally:
            self.tally.seconds += time.monotonic() - started


class TalliedRecords(Tallied):
    """A stream whose records all pass through singer-sdk's loop: counted there."""

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        self.tally.records += 1
        return row


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _jobs(created: int, taken_back: int) -> str:
    text = f"{_count(created, 'job')} created"
    return f"{text}, {taken_back} taken back from the last run" if taken_back else text
