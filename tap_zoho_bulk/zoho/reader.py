"""The run-wide Bulk Read reader: every module's export, in background threads, for the main thread.

`BulkReader` starts one `ModuleExport` (`export.py`) per selected module, so a sync of many
modules takes about as long as its slowest module rather than the sum of all of them. It holds
what the exports share: the client, the job slots, the credit budget, the stop and the temporary
folder of downloaded results. Only the main thread emits Singer messages; it reads pages here.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tap_zoho_bulk.errors import CreditBudgetExceeded
from tap_zoho_bulk.zoho.client import BULK_READ_CREDITS, ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.export import ModuleExport
from tap_zoho_bulk.zoho.jobs import ExportPlan, JobStats, PageFile, Polling
from tap_zoho_bulk.zoho.slots import ExportStopped, JobSlots
from tap_zoho_bulk.zoho.wire import CreateAnswer

TMP_PREFIX = "tap-zoho-bulk-"
#: Credits a create leaves in the budget for each job not yet downloaded (its own included): a
#: few polls and the download. A job whose polls outrun it stops the run, and the next run
#: takes the job back rather than paying for it again.
FINISH_CREDITS = 5


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
