"""Pre-seeded Bulk Write jobs, one per status, with the result file of the completed one.

The tap only reads, but people point their own tooling at the simulator, and the bulk write
status API has its own quirks worth reproducing: the job object is not wrapped in `data`, the
in-progress status is `INPROGRESS` without a space, v2 echoes the module as a string (seed 004)
while v2.1+ echo `{id, api_name}` plus `code`, `callback` and `ignore_empty` (seed 003), and the
result `download_url` is absolute on a download host rather than relative to the API domain.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timezone

from .catalog import ORG_PREFIX
from .jobs import ApiError, ApiVersion, format_time
from .oauth import User

ORG_ID = "694902309"
"""The org id in bulk write download URLs (Zoho puts its zgid there)."""
BULK_WRITE_JOB_IDS: Mapping[str, str] = {
    "ADDED": f"{ORG_PREFIX}000005350001",
    "INPROGRESS": f"{ORG_PREFIX}000005350002",
    "COMPLETED": f"{ORG_PREFIX}000005350003",
    "FAILED": f"{ORG_PREFIX}000005350004",
}
"""The pre-seeded bulk write jobs, by status."""
_RECORD_ID_BASE = int(f"{ORG_PREFIX}000005360001")


@dataclass(frozen=True)
class _Counts:
    added: int
    skipped: int
    updated: int
    total: int


@dataclass(frozen=True)
class _WriteJob:
    id: str
    status: str
    module: str
    mappings: tuple[tuple[str, int], ...]
    file_name: str
    counts: _Counts
    age_seconds: int


_JOBS = (
    _WriteJob(
        BULK_WRITE_JOB_IDS["ADDED"],
        "ADDED",
        "Deals",
        (("Deal_Name", 1), ("Stage", 2)),
        "Deals.csv",
        _Counts(0, 0, 0, 0),
        600,
    ),
    _WriteJob(
        BULK_WRITE_JOB_IDS["INPROGRESS"],
        "INPROGRESS",
        "Deals",
        (("Deal_Name", 1), ("Stage", 2)),
        "Deals.csv",
        _Counts(40, 2, 0, 42),
        1_800,
    ),
    _WriteJob(
        BULK_WRITE_JOB_IDS["COMPLETED"],
        "COMPLETED",
        "Leads",
        (("Owner", 2), ("Last_Name", 0), ("Mobile", 1)),
        "Fil2.csv",
        _Counts(9, 2, 0, 11),
        3_600,
    ),
    _WriteJob(
        BULK_WRITE_JOB_IDS["FAILED"],
        "FAILED",
        "Contacts",
        (("Last_Name", 0), ("Email", 1)),
        "Contacts.csv",
        _Counts(0, 0, 0, 0),
        7_200,
    ),
)

# Why each skipped row was skipped, and the cell values that explain it.
_SKIPPED_ROWS: tuple[tuple[str, Mapping[str, str]], ...] = (
    ("MANDATORY_NOT_FOUND-Last_Name", {"Last_Name": ""}),
    ("INVALID_DATA-Mobile:INVALID_DATA-Owner", {"Mobile": "call me", "Owner": "nobody"}),
)


class BulkWrites:
    """Serves the pre-seeded bulk write jobs and the completed job's result ZIP."""

    def __init__(
        self,
        *,
        base_url: str,
        module_ids: Mapping[str, str],
        user: User,
        tz: timezone,
        started_at: float,
    ) -> None:
        self._base_url = base_url
        self._module_ids = module_ids
        self._user = user
        self._tz = tz
        self._started_at = started_at
        self._jobs = {job.id: job for job in _JOBS}

    def download_path(self, job_id: str) -> str:
        """Path part of a job's result URL; the server routes it back here."""
        return f"/v2/crm/{ORG_ID}/bulk-write/{job_id}/{job_id}.zip"

    def render(self, job_id: str, version: ApiVersion) -> dict[str, object] | ApiError:
        """GET /crm/bulk/{ver}/write/{id}: the unwrapped job object, or RESOURCE_NOT_FOUND."""
        job = self._jobs.get(job_id)
        if job is None:
            # Seed 003 (v2.1 capture) answered 400 with empty details; the v2 doc page says 404.
            status = 400 if version.object_shapes else 404
            return ApiError(status, "RESOURCE_NOT_FOUND", "The requested resource doesn't exist.")
        modern = version.object_shapes
        file: dict[str, object] = {"status": job.status}
        if job.status != "ADDED":
            file |= {
                "name": job.file_name,
                "added_count": job.counts.added,
                "skipped_count": job.counts.skipped,
                "updated_count": job.counts.updated,
                "total_count": job.counts.total,
            }
        mappings: list[dict[str, object]] = []
        for api_name, index in job.mappings:
            mapping: dict[str, object] = {
                "api_name": api_name,
                "index": index,
                "format": None,
                "find_by": None,
            }
            if modern:
                mapping["module"] = None
            mapping["default_value"] = None
            mappings.append(mapping)
        resource: dict[str, object] = {
            "status": job.status,
            "type": "data",
            "module": (
                {"id": self._module_ids.get(job.module), "api_name": job.module}
                if modern
                else job.module
            ),
            "field_mappings": mappings,
            "file": file,
        }
        if modern:
            resource["code"] = job.status
        out: dict[str, object] = {"status": job.status}
        if job.status != "ADDED":
            out["character_encoding"] = "UTF-8"
        out["resource"] = [resource]
        out["id"] = job.id
        if modern:
            out["callback"] = {"url": "https://www.example.com/callback", "method": "post"}
        if job.status == "COMPLETED":
            out["result"] = {"download_url": self._base_url + self.download_path(job.id)}
        out["created_by"] = {"id": self._user.id, "name": self._user.name}
        if modern:
            out["ignore_empty"] = True
        out["operation"] = "insert"
        out["created_time"] = format_time(self._started_at - job.age_seconds, self._tz)
        return out

    def result_zip(self, job_id: str) -> bytes | ApiError:
        """The completed job's result: mapped columns, then STATUS, RECORD_ID, ERRORS per row."""
        job = self._jobs.get(job_id)
        if job is None or job.status != "COMPLETED":
            return ApiError(404, "RESOURCE_NOT_FOUND", "The requested resource doesn't exist.")
        columns = [name for name, _ in sorted(job.mappings, key=lambda m: m[1])]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([*columns, "STATUS", "RECORD_ID", "ERRORS"])
        for row in range(job.counts.total):
            skipped_at = row - job.counts.added
            if skipped_at < 0:
                values = [_cell(name, row) for name in columns]
                writer.writerow([*values, "added", str(_RECORD_ID_BASE + row), ""])
            else:
                errors, bad = _SKIPPED_ROWS[skipped_at % len(_SKIPPED_ROWS)]
                values = [bad.get(name, _cell(name, row)) for name in columns]
                writer.writerow([*values, "skipped", "", errors])
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{job.module}-{job.file_name}", text.getvalue())
        return out.getvalue()

    def ids(self) -> dict[str, str]:
        """Job id by status, for stats and for users discovering the seeded jobs."""
        return dict(BULK_WRITE_JOB_IDS)


def _cell(column: str, row: int) -> str:
    if column == "Last_Name":
        return f"Imported {row + 1}"
    if column == "Mobile":
        return f"+1 555 01{row:02d}"
    return f"{ORG_PREFIX}000000225013"
