"""The data a Bulk Read job's lifecycle passes around: plans, polling settings and job records.

Plain records shared by the run-wide reader (`reader.py`), each module's page loop (`export.py`)
and the Singer layer, which writes them to STATE and the `bulk_read_jobs` audit stream. They are
apart so that their users can name them without importing the threads that make them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tap_zoho_bulk.zoho.auth import floats_in
from tap_zoho_bulk.zoho.client import BULK_READ_CREDITS
from tap_zoho_bulk.zoho.coql import CoqlPlan


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
    coql: CoqlPlan | None = None  # how the window may be read through COQL instead


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
