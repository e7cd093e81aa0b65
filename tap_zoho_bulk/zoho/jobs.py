"""A Bulk Read export's lifecycle: create a job, poll it, download each page, page after page.

Each selected module gets one background `ModuleExport` thread that walks its pages (one job per
200,000 rows) and hands downloaded result files to the main thread through a small queue. Job
slots bound how many jobs are in flight at once, so a sync of many modules takes about as long as
its slowest module rather than the sum of all of them. Only the main thread emits Singer messages.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tap_zoho_bulk.errors import (
    CreditBudgetExceeded,
    JobFailedError,
    ZohoAPIError,
    ZohoTapError,
)
from tap_zoho_bulk.zoho.auth import floats_in
from tap_zoho_bulk.zoho.client import BULK_READ_CREDITS, ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion, build_query
from tap_zoho_bulk.zoho.download import download_verified
from tap_zoho_bulk.zoho.wire import CreateAnswer, JobError, ReadJobAnswer, ReadResult

TMP_PREFIX = "tap-zoho-bulk-"
KNOWN_STATES = {"ADDED", "QUEUED", "IN PROGRESS", "COMPLETED", "FAILURE"}
#: Credits a create leaves in the budget for each job not yet downloaded (its own included): a
#: few polls and the download. A job whose polls outrun it stops the run, and the next run
#: takes the job back rather than paying for it again.
FINISH_CREDITS = 5
WINDOW_RESTARTS = 3  # expired page tokens tolerated per export before giving up


@dataclass(frozen=True)
class Polling:
    """Poll with a growing interval so polls grow with the log of a job's duration."""

    first_seconds: float = 2.0
    max_seconds: float = 300.0
    growth: float = 1.5
    timeout_seconds: float = 6 * 3600.0

    def __post_init__(self) -> None:
        floats_in(self, "first_seconds", "max_seconds", "growth", "timeout_seconds")


@dataclass(frozen=True)
class ResumedJob:
    """A job an earlier run created (and paid for) that this run takes back."""

    job_id: str
    page: int


@dataclass(frozen=True)
class ExportPlan:
    """What one stream asks of Bulk Read in this run."""

    stream: str
    module: str
    fields: list[str] | None  # None: every field
    criteria: Any  # version-neutral criteria tree or None
    window: tuple[str | None, str] | None  # (start, end) in UTC, None for full-table streams
    resume: tuple[ResumedJob, ...] = ()  # the earlier run's open jobs, in emission order


@dataclass
class JobStats:
    """What the tap learnt about one bulk read job (also the `bulk_read_jobs` audit record)."""

    job_id: str
    stream: str
    module: str
    page: int
    criteria: Any
    field_count: int
    created_at: datetime
    deadline: float  # time.monotonic() by which the job must be finished and downloaded
    state: str = "ADDED"
    completed_at: datetime | None = None
    polls: int = 0
    count: int = 0
    more_records: bool = False
    next_page_token: str | None = None
    credits: int = BULK_READ_CREDITS
    resumed: bool = False

    @property
    def result_member(self) -> str:
        """The one CSV a result ZIP holds."""
        return f"{self.job_id}.csv"

    @property
    def seconds_to_complete(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.created_at).total_seconds()


@dataclass
class PageFile:
    """A downloaded result ZIP waiting for the main thread."""

    path: Path
    job: JobStats

    @property
    def member(self) -> str:
        return self.job.result_member


@dataclass
class _Finished:
    error: BaseException | None = None


class ExportStopped(JobFailedError):
    """The run is ending (interrupted or closed): nothing more may be asked of Zoho."""


class JobSlots:
    """Bulk read jobs in flight at Zoho, handed out first come, first served.

    A slot is held only while Zoho works on a job (created or taken back, not yet finished), and
    that always ends within the job's time limit, so a waiter never waits on work that cannot
    proceed. Handing slots out in arrival order keeps one busy module from starving another.
    """

    def __init__(self, count: int, stopping: threading.Event) -> None:
        self._free = count
        self._stopping = stopping
        self._turns: collections.deque[object] = collections.deque()
        self._changed = threading.Condition()

    def acquire(self, stream: str, timeout: float) -> None:
        """Wait for a slot, at most `timeout` seconds, ending early when the run stops."""
        turn = object()
        deadline = time.monotonic() + timeout
        with self._changed:
            self._turns.append(turn)
            try:
                while self._turns[0] is not turn or self._free == 0:
                    if self._stopping.is_set():
                        msg = f"The export of '{stream}' was stopped."
                        raise ExportStopped(msg)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        msg = (
                            f"'{stream}' waited {timeout:.0f}s for one of the "
                            "max_concurrent_jobs job slots; other modules' jobs held them all. "
                            "Raise max_concurrent_jobs or job_timeout_seconds."
                        )
                        raise JobFailedError(msg)
                    self._changed.wait(min(left, 0.5))
                self._free -= 1
            finally:
                self._turns.remove(turn)
                self._changed.notify_all()

    def release(self) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify_all()

    def wake(self) -> None:
        """Let every waiter see that the run is stopping."""
        with self._changed:
            self._changed.notify_all()


class BulkReader:
    """Creates, polls and downloads jobs for every module of a run, in background threads.

    Only the main thread emits Singer messages; it learns of new jobs through `open_jobs` and
    `jobs_changed`, so that a job is in STATE from the moment it is created.
    """

    def __init__(
        self,
        *,
        client: ZohoClient,
        version: ApiVersion,
        polling: Polling,
        max_concurrent_jobs: int,
        logger: logging.Logger,
        verify: Callable[[Path, str], None],
        prefetch_pages: int = 2,
    ) -> None:
        self.client = client
        self.version = version
        # Checks a downloaded result whole (path, its one member), raising CorruptArchiveError
        # or UnsafeArchiveError: the results layer's `verify_result`, passed in by the tap.
        self.verify_result = verify
        self.polling = polling
        self.logger = logger
        self.stopping = threading.Event()
        self.slots = JobSlots(max_concurrent_jobs, self.stopping)
        # Pages a stream may have ahead of the one being emitted: downloaded, or in Zoho.
        self.pages_ahead = prefetch_pages + 1
        self.jobs_changed = threading.Event()
        self._exports: dict[str, ModuleExport] = {}
        self.jobs: list[JobStats] = []
        self._jobs_lock = threading.Lock()
        # Held around every create call, so that once `stop` returns no job is created any more
        # and every job created so far is known.
        self._create_gate = threading.Lock()
        self._unfinished = 0  # jobs created or taken back and not yet downloaded
        _sweep_orphans()
        self.tmp_dir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
        (self.tmp_dir / "pid").write_text(str(os.getpid()))

    def start(self, plans: Sequence[ExportPlan]) -> None:
        """Submit every plan at once; job slots decide how many run at the same time."""
        for plan in plans:
            if plan.stream in self._exports:
                continue
            export = ModuleExport(self, plan)
            self._exports[plan.stream] = export
            export.start()

    def plan(self, stream: str) -> ExportPlan | None:
        """The stream's plan, None when it has no export in this run."""
        export = self._exports.get(stream)
        return export.plan if export else None

    def open_jobs(self, stream: str) -> list[JobStats]:
        """The stream's jobs whose pages are not emitted yet, in emission order."""
        return self._exports[stream].open_jobs()

    def pages(self, stream: str, idle: Callable[[], None]) -> Iterator[PageFile]:
        """The stream's result files in order; re-raises the export's error in this thread.

        `idle` runs about four times a second while the main thread waits, so that it can
        write STATE for new jobs and notice an interruption.
        """
        yield from self._exports[stream].pages(idle)

    def done_with(self, page: PageFile) -> None:
        """The page's records are emitted: it is no longer an open job."""
        self._exports[page.job.stream].emitted(page.job)

    def record(self, job: JobStats) -> None:
        with self._jobs_lock:
            self.jobs.append(job)

    def create(self, stream: str, body: Mapping[str, Any]) -> CreateAnswer:
        """The create call, refused once the run is stopping."""
        with self._create_gate:
            if self.stopping.is_set():
                msg = f"The export of '{stream}' was stopped before its next job."
                raise ExportStopped(msg)
            self._check_budget(stream)
            answer = self.client.post_as(
                CreateAnswer,
                f"/crm/bulk/{self.version.name}/read",
                body,
                kind="create",
                stream=stream,
            )
            self.unfinished(+1)
            return answer

    def unfinished(self, change: int) -> None:
        with self._jobs_lock:
            self._unfinished += change

    def _check_budget(self, stream: str) -> None:
        """Refuse a job that the budget could not see through to its download: paying 50
        credits for a job that cannot be polled and downloaded buys nothing."""
        ledger = self.client.credits
        if ledger.budget is None:
            return
        with self._jobs_lock:
            unfinished = self._unfinished + 1
        needed = BULK_READ_CREDITS + FINISH_CREDITS * unfinished
        if ledger.total + needed > ledger.budget:
            msg = (
                f"Not creating a bulk read job for '{stream}': with the {FINISH_CREDITS} credits "
                f"kept to finish each of {unfinished} unfinished job(s) it needs {needed}, and "
                f"this run has spent {ledger.total} of max_credits_per_run={ledger.budget}. "
                "Raise max_credits_per_run or select fewer streams; the next run resumes from "
                "the last STATE."
            )
            raise CreditBudgetExceeded(msg)

    def stop(self) -> None:
        """No job is created after this returns; the waits of every export end soon."""
        self.stopping.set()
        self.slots.wake()
        with self._create_gate:
            pass  # a create already under way has finished and is in `open_jobs`

    def close(self) -> None:
        """Stop the workers and delete every temporary file, even after an interruption."""
        self.stop()
        for export in self._exports.values():
            export.drain()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


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
            "Created bulk read job %s for '%s' page %d (%d credits so far).",
            job.job_id,
            self.plan.stream,
            page,
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


def _sweep_orphans() -> None:
    """Delete result files left by runs that were killed (SIGKILL gives no chance to clean up)."""
    for folder in Path(tempfile.gettempdir()).glob(TMP_PREFIX + "*"):
        try:
            pid = int((folder / "pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
