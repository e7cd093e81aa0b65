"""One module's page loop, in its own thread: create a job, poll it, take it back, download it.

Each selected module gets one `ModuleExport` that walks its pages (one job per 200,000 rows) and
hands downloaded result files to the main thread through a small queue, running ahead by a few
pages at most. Apart from the run-wide `BulkReader` (`reader.py`), which starts one per module
and holds what they share: the client, the job slots, the credit budget and the stop.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_zoho_bulk.errors import JobFailedError, RetryableAPIError, ZohoAPIError, ZohoTapError
from tap_zoho_bulk.zoho import coql
from tap_zoho_bulk.zoho.client import BULK_READ_CREDITS
from tap_zoho_bulk.zoho.criteria import ApiVersion, build_query
from tap_zoho_bulk.zoho.download import download_verified
from tap_zoho_bulk.zoho.jobs import ExportPlan, JobStats, PageFile
from tap_zoho_bulk.zoho.slots import ExportStopped
from tap_zoho_bulk.zoho.wire import JobError, ReadJobAnswer, ReadResult

if TYPE_CHECKING:
    from tap_zoho_bulk.zoho.reader import BulkReader

KNOWN_STATES = {"ADDED", "QUEUED", "IN PROGRESS", "COMPLETED", "FAILURE"}
WINDOW_RESTARTS = 3  # expired page tokens tolerated per export before giving up


@dataclass
class _Finished:
    error: BaseException | None = None


class ModuleExport(threading.Thread):
    """The page loop of one module, run in the background.

    It may run ahead of the main thread by `pages_ahead` pages at most (downloaded, or being
    made by Zoho), and waits for room before it asks Zoho for another page, holding no job slot
    while it waits.
    """

    def __init__(self, reader: BulkReader, plan: ExportPlan) -> None:
        super().__init__(name=f"export-{plan.stream}", daemon=True)
        self.reader = reader
        self.plan = plan
        self._queue: queue.Queue[PageFile | _Finished] = queue.Queue()
        self._room = threading.Semaphore(reader.pages_ahead)
        self._log = reader.logger
        self._restarts = 0
        self._open_lock = threading.Lock()
        self._open = [self._job(r.job_id, r.page, resumed=True) for r in plan.resume]

    def open_jobs(self) -> list[JobStats]:
        with self._open_lock:
            return list(self._open)

    def emitted(self, job: JobStats) -> None:
        with self._open_lock:
            if job in self._open:
                self._open.remove(job)

    def _opened(self, job: JobStats) -> None:
        with self._open_lock:
            self._open.append(job)
        self.reader.jobs_changed.set()

    def _forget_from(self, job: JobStats) -> None:
        """Drop a job of the earlier run that cannot be taken back, and every one after it."""
        with self._open_lock:
            del self._open[self._open.index(job) :]
        self.reader.jobs_changed.set()

    def pages(self, idle: Callable[[], None]) -> Iterator[PageFile]:
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                idle()
                if not self.is_alive() and self._queue.empty():
                    msg = f"The export of '{self.plan.stream}' ended without a result."
                    raise JobFailedError(msg) from None
                continue
            if isinstance(item, _Finished):
                if item.error is not None:
                    raise item.error
                return
            self._room.release()  # the main thread has it: the export may ask for one more
            yield item

    def drain(self) -> None:
        """Delete files that were downloaded but never consumed."""
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._queue.get_nowait()
                if isinstance(item, PageFile):
                    item.path.unlink(missing_ok=True)

    def run(self) -> None:
        try:
            self._export()
            self._queue.put(_Finished())
        except BaseException as exc:  # handed to the main thread, which reports it
            self._queue.put(_Finished(exc))

    def _put(self, path: Path, job: JobStats) -> None:
        if self.reader.stopping.is_set():
            path.unlink(missing_ok=True)
            msg = f"The export of '{self.plan.stream}' was stopped."
            raise ExportStopped(msg)
        self._queue.put(PageFile(path, job))

    def _export(self) -> None:
        previous = self._take_back()
        if previous is None and not self.plan.resume and self._read_through_coql():
            return
        if previous is None:
            if self.plan.resume:
                self._log.info(
                    "'%s': the earlier run's jobs cannot be taken back; exporting the window "
                    "again.",
                    self.plan.stream,
                )
            job: JobStats | None = self._create(build_query(*self._query_args(page=1)), page=1)
        else:
            job = self._following(previous)
        while job is not None:
            self._wait(job)
            # The next page's job starts before this page downloads, so Zoho works on it
            # while the main thread reads this one; this page, paid for, is emitted even when
            # the next one cannot be had.
            try:
                following = self._following(job)
            except ExportStopped:
                raise
            except ZohoTapError:
                self._put(self._download(job), job)
                raise
            self._put(self._download(job), job)
            job = following

    def _read_through_coql(self) -> bool:
        """Read a small window through COQL; False when Bulk Read should read it (a window
        past the plan's reach, or one COQL cannot read: then what COQL already delivered is
        delivered again by Bulk Read, at least once and never a gap)."""
        plan, bounds = self.plan.coql, self.plan.window
        if plan is None or bounds is None:
            return False
        window = coql.Window(
            self.reader.client,
            self.reader.version,
            self.plan.module,
            self.plan.stream,
            plan,
            bounds,
        )
        delivered = [0]

        def deliver(records: list[dict[str, Any]], page: int) -> None:
            self._check_running()
            self._make_room()
            job = self._job(f"coql-{page}", page)
            job.credits, job.state, job.count = 0, "COMPLETED", len(records)
            job.completed_at = datetime.now(UTC)
            path = self.reader.tmp_dir / f"{self.plan.stream}-coql-{page}.zip"
            coql.write_page(path, job.result_member, plan.columns, records, plan.separator)
            delivered[0] += len(records)
            self._put(path, job)

        try:
            done = coql.read_window(window, deliver)
        except ExportStopped:
            raise
        except ZohoAPIError as exc:
            if isinstance(exc, RetryableAPIError) or exc.code == "UNEXPECTED_RESPONSE":
                raise
            self._log.warning(
                "'%s': COQL cannot read the window (%s); reading it through Bulk Read.",
                self.plan.stream,
                exc,
            )
            return False
        if done:
            self._log.info(
                "'%s': %d records in the window, read through COQL (no Bulk Read job).",
                self.plan.stream,
                delivered[0],
            )
        else:
            self._log.info(
                "'%s': more than %d records in the window; reading it through Bulk Read.",
                self.plan.stream,
                plan.reach,
            )
        return done

    def _take_back(self) -> JobStats | None:
        """Emit again the pages of the jobs an interrupted run left open, in order.

        Each is downloaded before the next page is asked for, so that a result Zoho no longer
        has costs no credits for a page token that is gone with it. Returns the last job taken
        back; None when there was none, or the first is gone (the window is exported again).
        """
        previous: JobStats | None = None
        for job in self.open_jobs():
            self._make_room()
            self.reader.unfinished(+1)
            path = self._result_if_kept(job)
            if path is None:
                self.reader.unfinished(-1)
                self._room.release()
                self._forget_from(job)
                return previous
            self._put(path, job)
            previous = job
        return previous

    def _result_if_kept(self, job: JobStats) -> Path | None:
        """The result of a job an earlier run created; None if Zoho no longer has it."""
        try:
            self._log.info(
                "Taking back job %s (page %d) of '%s' from an earlier run.",
                job.job_id,
                job.page,
                self.plan.stream,
            )
            if not self._poll_once(job):
                self.reader.slots.acquire(self.plan.stream, self.reader.polling.timeout_seconds)
                self._wait(job)
            return self._download(job)
        except JobFailedError as exc:
            if isinstance(exc, ExportStopped) or job.state != "FAILURE":
                raise
            reason = str(exc)
        except ZohoAPIError as exc:
            if exc.code != "RESOURCE_NOT_FOUND":
                raise
            reason = f"Zoho no longer has job {job.job_id} or its result"
        self._log.warning(
            "Cannot take back job %s (page %d) of '%s' from an earlier run: %s.",
            job.job_id,
            job.page,
            self.plan.stream,
            reason,
        )
        return None

    def _make_room(self) -> None:
        """Wait until the main thread has taken enough pages that another may be asked for."""
        while not self._room.acquire(timeout=0.5):
            if self.reader.stopping.is_set():
                msg = f"The export of '{self.plan.stream}' was stopped."
                raise ExportStopped(msg)

    def _following(self, job: JobStats) -> JobStats | None:
        """The next page's job; the window's first page again if Zoho refuses the page_token.

        Page tokens live 24 hours. One that expired (a resumed run, a very slow target) cannot
        be renewed, so the only way on without a gap is to export the window again.
        """
        if not job.more_records:
            return None
        try:
            return self._create(self._next_query(job), page=job.page + 1)
        except ZohoAPIError as exc:
            if not _refuses_page_token(exc):
                raise
            reason = exc.zoho_message
        self._restarts += 1
        if self._restarts > WINDOW_RESTARTS:
            msg = (
                f"Zoho refused the page_token of '{self.plan.stream}' {self._restarts} times "
                f"({reason}); stopping. The next run resumes from the last STATE."
            )
            raise JobFailedError(msg)
        self._log.warning(
            "Zoho refused the page_token for page %d of '%s' (%s); exporting the window again "
            "from page 1, so records already emitted are emitted again (at-least-once).",
            job.page + 1,
            self.plan.stream,
            reason,
        )
        return self._create(build_query(*self._query_args(page=1)), page=1)

    def _query_args(self, page: int) -> tuple[ApiVersion, str, list[str] | None, Any, int]:
        return (self.reader.version, self.plan.module, self.plan.fields, self.plan.criteria, page)

    def _next_query(self, job: JobStats) -> dict[str, Any]:
        if self.reader.version.uses_page_token:
            if not job.next_page_token:
                msg = (
                    f"Zoho said job {job.job_id} of '{self.plan.stream}' has more records but "
                    "gave no next_page_token; stopping rather than skipping records."
                )
                raise JobFailedError(msg)
            return {"query": {"page_token": job.next_page_token}}
        return build_query(*self._query_args(page=job.page + 1))

    def _job(self, job_id: str, page: int, *, resumed: bool = False) -> JobStats:
        """What the tap tracks of a job; a resumed one was paid for by the run that created it."""
        return JobStats(
            job_id=job_id,
            stream=self.plan.stream,
            module=self.plan.module,
            page=page,
            criteria=self.plan.criteria,
            field_count=len(self.plan.fields or []),
            created_at=datetime.now(UTC),
            deadline=time.monotonic() + self.reader.polling.timeout_seconds,
            credits=0 if resumed else BULK_READ_CREDITS,
            resumed=resumed,
        )

    def _check_running(self) -> None:
        """Once the run is stopping nothing more is asked of Zoho: its credits would be wasted."""
        if self.reader.stopping.is_set():
            msg = f"The export of '{self.plan.stream}' was stopped."
            raise ExportStopped(msg)

    def _create(self, body: Mapping[str, Any], page: int) -> JobStats:
        """A new job, once there is room for its page and a free job slot (in that order, so
        that no slot is held while waiting for the main thread)."""
        self._make_room()
        try:
            self.reader.slots.acquire(self.plan.stream, self.reader.polling.timeout_seconds)
        except BaseException:
            self._room.release()
            raise
        try:
            answer = self.reader.create(self.plan.stream, body)
        except BaseException:
            self.reader.slots.release()
            self._room.release()
            raise
        job = self._job(answer.job_id, page)
        self.reader.record(job)
        self._opened(job)
        self._log.info(
            "Created bulk read job %s for '%s' page %d (%d credits; %d spent by this run so "
            "far, discovery included).",
            job.job_id,
            self.plan.stream,
            page,
            job.credits,
            self.reader.client.credits.total,
        )
        return job

    def _wait(self, job: JobStats) -> None:
        """Poll a job that holds a slot until it ends, releasing the slot whatever happens."""
        polling = self.reader.polling
        interval = polling.first_seconds
        try:
            while not self._poll_once(job):
                if time.monotonic() + interval > job.deadline:
                    msg = (
                        f"Job {job.job_id} of '{self.plan.stream}' did not finish within "
                        f"{polling.timeout_seconds:.0f}s (last state {job.state}); the next run "
                        "takes it back (raise job_timeout_seconds to wait longer in one run)."
                    )
                    raise JobFailedError(msg)
                if self.reader.stopping.wait(interval):
                    msg = "Export stopped before the job finished."
                    raise ExportStopped(msg)
                interval = min(interval * polling.growth, polling.max_seconds)
        finally:
            self.reader.slots.release()

    def _poll_once(self, job: JobStats) -> bool:
        """One status call; True once the job is COMPLETED."""
        self._check_running()
        detail = self.reader.client.get_as(
            ReadJobAnswer,
            f"/crm/bulk/{self.reader.version.name}/read/{job.job_id}",
            kind="poll",
            stream=self.plan.stream,
        ).job
        job.polls += 1
        state = detail.state
        if state != job.state:
            elapsed = (datetime.now(UTC) - job.created_at).total_seconds()
            self._log.info(
                "Job %s of '%s': %s after %.1fs.", job.job_id, self.plan.stream, state, elapsed
            )
        job.state = state
        if state not in KNOWN_STATES:
            msg = (
                f"Job {job.job_id} of '{self.plan.stream}' is in state '{state}', which this tap "
                "does not know; stopping rather than guessing. Please report it."
            )
            raise JobFailedError(msg)
        result = detail.result or ReadResult()
        if state == "FAILURE":
            error = result.error_message or JobError()
            reason = error.message if isinstance(error, JobError) else error
            code = (error.code or "") if isinstance(error, JobError) else ""
            msg = f"Zoho bulk read job {job.job_id} of '{self.plan.stream}' failed: {code} {reason}"
            raise JobFailedError(msg)
        if state != "COMPLETED":
            return False
        job.completed_at = datetime.now(UTC)
        job.count = result.count
        job.more_records = result.more_records
        job.next_page_token = result.next_page_token
        job.page = job.page if result.page is None else result.page
        return True

    def _download(self, job: JobStats) -> Path:
        """Download the page's result, verified whole before the main thread emits any of it."""
        dest = self.reader.tmp_dir / f"{job.job_id}.zip"
        started = time.monotonic()
        size = download_verified(
            self.reader.client,
            f"/crm/bulk/{self.reader.version.name}/read/{job.job_id}/result",
            dest,
            verify=lambda path: self.reader.verify_result(path, job.result_member),
            what=f"job {job.job_id} of '{self.plan.stream}' page {job.page}",
            kind="download",
            stream=self.plan.stream,
            logger=self._log,
            then="the next run resumes from the last STATE",
            deadline=job.deadline,
            stop=self.reader.stopping,
            check_running=self._check_running,
        )
        self._log.info(
            "Downloaded page %d of '%s' (%d records, %.1f MB) in %.1fs.",
            job.page,
            self.plan.stream,
            job.count,
            size / 1e6,
            time.monotonic() - started,
        )
        self.reader.unfinished(-1)
        return dest


def _refuses_page_token(error: ZohoAPIError) -> bool:
    """Whether Zoho rejected a create call because of its page_token (expired, or another user's).

    Zoho answers 400 INVALID_REQUEST naming `page_token` in the details.
    """
    return error.status == 400 and "page_token" in f"{error.details} {error.zoho_message}"
