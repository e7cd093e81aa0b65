"""Streams: one per Zoho CRM module, described here and fed by the tap's `BulkReader`."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_zoho_bulk.errors import ConfigError, ParseWorkerError, ZohoTapError
from tap_zoho_bulk.results.archive import open_result_member
from tap_zoho_bulk.results.reader import RecordReader
from tap_zoho_bulk.singer import settings
from tap_zoho_bulk.singer.emit import Ties
from tap_zoho_bulk.singer.sdk_bypass import DirectRecords
from tap_zoho_bulk.singer.summary import Tallied
from tap_zoho_bulk.utc import parse_utc, utc_text
from tap_zoho_bulk.zoho import coql
from tap_zoho_bulk.zoho.coql import CoqlPlan
from tap_zoho_bulk.zoho.criteria import (
    MAX_CRITERIA,
    MAX_FIELDS,
    combine_criteria,
    count_criteria,
    window_criteria,
)
from tap_zoho_bulk.zoho.jobs import ExportPlan, PageFile, ResumedJob
from tap_zoho_bulk.zoho.reader import BulkReader
from tap_zoho_bulk.zoho.slots import ExportStopped

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_zoho_bulk.singer.run import Run
    from tap_zoho_bulk.singer.tap import TapZohoBulk

#: The stream's open jobs (created, not yet emitted), so that the next run takes them back
#: instead of paying for them again: the first as `job_id`/`page`, the others in `later_jobs`.
JOB_STATE_KEY = "bulk_job"
TIES_STATE_KEY = "bookmark_ids"  # ids already emitted at the bookmark's second
REFRESH_STATE_KEY = "formula_refreshed_at"  # start of the run that last refreshed formulas
#: Result files (ZIP bytes) from which reading in worker processes pays for starting them.
PARALLEL_BYTES = 4 * 1024 * 1024


class ModuleStream(DirectRecords, Tallied):
    """A CRM module exported through Bulk Read.

    Rows of a result file are in no particular order, so the bookmark (the largest replication
    key seen, in UTC) is only promoted when the stream completes. Windows start at the bookmark
    inclusively, because Zoho times have second precision; records already emitted at that
    exact second are remembered by id and not emitted twice. Records are written a batch at a
    time, around singer-sdk's per-record loop, when nothing in that loop would change them
    (`DirectRecords`).
    """

    is_sorted = False
    #: The selected formula and rollup columns when this run refreshes them (`export_plan`).
    refreshing: tuple[str, ...] = ()
    # Converters already give every property its JSON type; the SDK's conform step would only
    # cost time (and turns the string "false" into true).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: TapZohoBulk, *, module: str, schema: dict[str, Any], run: Run) -> None:
        super().__init__(tap, schema=schema, name=module)
        self.module = module
        self.primary_keys = ["Id"]
        key = settings.replication_key(tap.config, module)
        if key in schema.get("properties", {}):
            self.replication_key = key
        else:
            self.logger.info("'%s' has no %s: syncing it full-table.", module, key)
        self._run = run

    def selected_columns(self) -> list[str]:
        """Selected properties in schema order, `Id` first.

        `Id` and the replication key are always requested, whatever a catalog says: without
        them records cannot be keyed and the bookmark cannot advance.
        """
        automatic = {"Id", self.replication_key}
        return [
            name
            for name in self.schema["properties"]
            if name in automatic or self.mask.get(("properties", name), True)
        ]

    def export_columns(self) -> list[str]:
        """The columns records carry: the selection, narrowed to the user's pinned fields."""
        columns = self.selected_columns()
        pinned = settings.module_fields(self.config, self.module)
        if not pinned:
            return columns
        unknown = [f for f in pinned if f not in self.schema["properties"]]
        if unknown:
            msg = f"fields for '{self.module}' names unknown field(s): {', '.join(unknown)}."
            raise ConfigError(msg)
        return [c for c in columns if c in pinned or c in {"Id", self.replication_key}]

    def export_plan(self, computed: Collection[str] = frozenset()) -> ExportPlan | None:
        """What to ask Zoho for in this run, checked against Zoho's limits first; None when
        there is nothing to ask (a bookmark at or after this run's start).

        `computed` names the module's formula and rollup-summary fields: when some are
        selected and `formula_refresh_hours` has passed since their last refresh, the window
        reaches back to `start_date`, so every record is emitted again with current values.
        """
        self.refreshing = self._refresh_due(computed)
        columns = [c for c in self.export_columns() if c != "Id"]
        fields: list[str] | None = columns
        if len(columns) > MAX_FIELDS:
            # Zoho exports everything past 200 fields; the reader drops what is not selected.
            fields = None
        window, leaves = None, []
        resume = self.stream_state.get(JOB_STATE_KEY)
        bounds = self._window(resume)
        if self.replication_key and bounds:
            start, end = bounds
            if start is not None and start >= end and not resume:
                self.logger.warning(
                    "The bookmark of '%s' (%s) is not before this run's start (%s): no job is "
                    "created. Check the STATE (or the clock of the machine that wrote it).",
                    self.name,
                    utc_text(start, whole_seconds=True),
                    utc_text(end, whole_seconds=True),
                )
                return None
            leaves = window_criteria(self.replication_key, start, end)
            window = (
                utc_text(start, whole_seconds=True) if start else None,
                utc_text(end, whole_seconds=True),
            )
        criteria = combine_criteria(leaves, settings.user_criteria(self.config, self.module))
        if count_criteria(criteria) > MAX_CRITERIA:
            msg = (
                f"criteria for '{self.module}' has {count_criteria(criteria) - len(leaves)} "
                f"conditions; with the {len(leaves)} of the incremental window that exceeds "
                f"Zoho's limit of {MAX_CRITERIA}."
            )
            raise ConfigError(msg)
        return ExportPlan(
            stream=self.name,
            module=self.module,
            fields=fields,
            criteria=criteria,
            window=window,
            resume=_open_jobs(resume),
            coql=self._coql_plan(window, computed),
        )

    def _coql_plan(
        self, window: tuple[str | None, str] | None, computed: Collection[str]
    ) -> CoqlPlan | None:
        """How this run's window may be read through COQL; None when only Bulk Read fits.

        Bulk Read reads the first run (no bookmark) in auto mode, a formula refresh, a module
        without a replication key, `criteria` (Bulk Read's own language), and a selection
        past COQL's limits of fields or formula fields per SELECT.
        """
        mode = settings.setting(self.config, "read_mode")
        if mode == "bulk" or window is None or self.refreshing or not self.replication_key:
            return None
        if window[0] is None and mode == "auto":
            return None
        columns = tuple(self.export_columns())
        if (
            settings.user_criteria(self.config, self.module)
            or len(columns) > coql.MAX_FIELDS
            or len([c for c in columns if c in computed]) > coql.MAX_FORMULA_FIELDS
        ):
            return None
        return CoqlPlan(
            key=self.replication_key,
            columns=columns,
            reach=coql.AUTO_REACH if mode == "auto" else coql.MAX_REACH,
            separator=settings.setting(self.config, "multiselect_separator"),
        )

    def _window(self, resume: dict[str, Any] | None) -> tuple[datetime | None, datetime] | None:
        """The interrupted job's window when resuming it, else bookmark (or start) to run start;
        start_date to run start for a formula refresh."""
        if not self.replication_key:
            return None
        if resume and resume.get("window"):
            start_text, end_text = resume["window"]
            return (parse_utc(start_text) if start_text else None), parse_utc(end_text)
        if self.refreshing:
            return settings.start_date(self.config), self._run.started_at
        return self._window_start(), self._run.started_at

    def _refresh_due(self, computed: Collection[str]) -> tuple[str, ...]:
        """The selected computed columns when their refresh is due in this run, else none.

        A full-table module is read whole every run anyway; an incremental one is refreshed
        at most once per `formula_refresh_hours`, counted from the start of the run that last
        completed a refresh (`formula_refreshed_at` in its STATE).
        """
        hours = self.config.get("formula_refresh_hours")
        if hours is None or not self.replication_key:
            return ()
        columns = tuple(c for c in self.export_columns() if c in computed)
        if not columns:
            return ()
        last = self.stream_state.get(REFRESH_STATE_KEY)
        if last and self._run.started_at - parse_utc(last) < timedelta(hours=float(hours)):
            return ()
        self.logger.info(
            "'%s': re-exporting every record to refresh its formula and rollup fields %s "
            "(last refresh: %s; formula_refresh_hours=%s).",
            self.name,
            ", ".join(columns),
            last or "never",
            hours,
        )
        return columns

    def _window_start(self) -> datetime | None:
        """The bookmark of the same replication key, else start_date, whichever is later."""
        floor = settings.start_date(self.config)
        state = self.stream_state
        value = state.get("replication_key_value")
        if value and state.get("replication_key") not in {None, self.replication_key}:
            self.logger.warning(
                "State bookmark of '%s' is on %s, not %s: starting from start_date.",
                self.name,
                state.get("replication_key"),
                self.replication_key,
            )
            value = None
        bookmark = parse_utc(value) if value else None
        if bookmark is None or (floor is not None and floor > bookmark):
            return floor
        return bookmark

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Emit the records of each downloaded page, deleting each file once read.

        A module whose export fails for good is reported to the run and ends here with its
        jobs in STATE and its bookmark where it was (pages come in no particular order, so a
        partial export proves nothing about the bookmark); the other modules go on.
        """
        run = self._run
        reader = run.open()
        if reader is None or reader.plan(self.name) is None:
            return
        parser = RecordReader(
            {"type": "object", "properties": _pick(self.schema, self.export_columns())},
            known_columns=list(self.schema["properties"]),
            stream_name=self.name,
            multi_select_separator=settings.setting(self.config, "multiselect_separator"),
            logger=self.logger,
        )
        # A refresh emits every record again, those of the bookmark's second included.
        tied = {} if self.refreshing else self.stream_state
        ties = Ties.from_state(tied, self.replication_key, TIES_STATE_KEY)
        direct = self._writes_directly()
        try:
            pages = reader.pages(self.name, self._between_outputs)
            while (page := self._next_page(pages)) is not None:
                self.time_extracted = page.job.completed_at
                started = time.monotonic()
                emitted = 0
                try:
                    with open_result_member(page.path, page.member) as member:
                        if direct:
                            emitted = self._write_page(parser, member, page, ties)
                        else:
                            for batch in ties.filter(parser.batches(member, source=page.member)):
                                self._between_outputs()
                                emitted += len(batch)
                                yield from batch.records()
                finally:
                    page.path.unlink(missing_ok=True)
                reader.done_with(page)
                if ties.max_value is not None:
                    self.advance_bookmark(ties.max_value)
                self.show_jobs(reader)
                self.write_state()
                self.tally.records += emitted
                self.tally.pages += 1
                elapsed = time.monotonic() - started
                self.logger.info(
                    "'%s' page %d: %d records emitted in %.1fs (%.0f records/s; job %s, "
                    "%d status polls).",
                    self.name,
                    page.job.page,
                    emitted,
                    elapsed,
                    emitted / elapsed if elapsed > 0 else 0.0,
                    page.job.job_id,
                    page.job.polls,
                )
        except _ExportFailed as failed:
            run.fail(self.name, failed.error)
            self.forget_progress()
            self.show_jobs(reader)
            self.write_state()
            return
        self.stream_state.pop(JOB_STATE_KEY, None)
        ties.save(self.stream_state, TIES_STATE_KEY)
        if self.refreshing:
            self.stream_state[REFRESH_STATE_KEY] = utc_text(self._run.started_at)

    def _next_page(self, pages: Iterator[PageFile]) -> PageFile | None:
        """The next downloaded page; None at the end. The export's own failure is told apart
        from the main thread's, which must end the run."""
        try:
            return next(pages)
        except StopIteration:
            return None
        except ExportStopped:
            self._run.check()  # the run was interrupted: say so rather than "stopped"
            raise
        except ZohoTapError as exc:
            raise _ExportFailed(exc) from exc

    def _between_outputs(self) -> None:
        """At a safe point of the output: stop if a signal asked to, write STATE if a job was
        created since the last one."""
        self._run.check()
        if self._run.publish_jobs():
            self.write_state()

    def show_jobs(self, reader: BulkReader) -> None:
        """Put the stream's open jobs into its STATE (main thread only)."""
        jobs = reader.open_jobs(self.name)
        plan = reader.plan(self.name)
        if not jobs or plan is None:
            self.stream_state.pop(JOB_STATE_KEY, None)
            return
        first, *later = jobs
        self.stream_state[JOB_STATE_KEY] = {
            "job_id": first.job_id,
            "page": first.page,
            "window": list(plan.window) if plan.window else None,
            "later_jobs": [{"job_id": job.job_id, "page": job.page} for job in later],
        }

    def _write_page(
        self, parser: RecordReader, member: IO[bytes], page: PageFile, ties: Ties
    ) -> int:
        """A page's RECORD lines, one write per batch, or per piece when a large page is read
        in the tap's worker processes; how many there were."""
        pool = self._run.parse_pool() if page.path.stat().st_size >= PARALLEL_BYTES else None
        written = 0
        try:
            for piece in parser.map_pieces(
                member, self.record_lines(ties), pool, source=page.member
            ):
                self.write_lines(piece)
                written += piece.count
                ties.absorb(piece.max_value, piece.max_ids)
                self._between_outputs()
        except BrokenProcessPool as exc:
            msg = (
                f"A worker process reading '{self.name}' died ({exc}). A rerun resumes from "
                "the last STATE; if memory is short, lower parse_processes (0 reads in the "
                "tap's own process)."
            )
            raise ParseWorkerError(msg) from exc
        return written


class _ExportFailed(Exception):
    """A module's export failed for good (carried out of the page loop to be reported)."""

    def __init__(self, error: ZohoTapError) -> None:
        super().__init__(str(error))
        self.error = error


def _open_jobs(resume: dict[str, Any] | None) -> tuple[ResumedJob, ...]:
    """The open jobs a STATE names, in emission order (`later_jobs` is absent in older STATE)."""
    if not resume:
        return ()
    jobs = [resume, *(resume.get("later_jobs") or [])]
    return tuple(ResumedJob(str(job["job_id"]), int(job["page"])) for job in jobs)


def _pick(schema: dict[str, Any], names: list[str]) -> dict[str, Any]:
    properties = schema["properties"]
    return {name: properties[name] for name in names}
