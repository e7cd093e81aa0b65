"""Metadata streams: the user's Bulk Write jobs, their per-row results, and the tap's own jobs.

Zoho cannot list bulk write jobs (reference §9.3), so the user names them in
`bulk_write_job_ids`; each is fetched once per run and shared by `bulk_write_jobs` and
`bulk_write_results`. `bulk_read_jobs` reports the `JobStats` the tap's `BulkReader` kept for the
jobs it created in this run, so it has to run after every module stream: the SDK syncs streams
in name order, module names start with an upper-case letter and `bulk_*` sorts after them.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_zoho_bulk.errors import ConfigError, UnsafeURLError, ZohoAPIError
from tap_zoho_bulk.results.records import (
    CorruptArchiveError,
    UnsafeArchiveError,
    open_result_member,
)
from tap_zoho_bulk.singer.streams import ModuleStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_zoho_bulk.singer.tap import TapZohoBulk
    from tap_zoho_bulk.zoho.jobs import JobStats

BULK_WRITE_JOBS = "bulk_write_jobs"
BULK_WRITE_RESULTS = "bulk_write_results"
BULK_READ_JOBS = "bulk_read_jobs"
STREAM_NAMES = frozenset({BULK_WRITE_JOBS, BULK_WRITE_RESULTS, BULK_READ_JOBS})

JOB_ID_RE = re.compile(r"^[0-9]+$")
# Zoho spells one status several ways (INPROGRESS in v2 samples, IN PROGRESS in the OAS,
# FAILURE in Bulk Read); keyed by the upper-case letters alone.
_CANONICAL_STATUS = {
    "ADDED": "ADDED",
    "QUEUED": "QUEUED",
    "INPROGRESS": "IN_PROGRESS",
    "COMPLETED": "COMPLETED",
    "FAILED": "FAILED",
    "FAILURE": "FAILED",
    "SKIPPED": "SKIPPED",
}
_RESULT_COLUMNS = ("STATUS", "RECORD_ID", "ERRORS")

_STATUS_DOC = "{} as Zoho spells it (ADDED, INPROGRESS or IN PROGRESS, COMPLETED, FAILED, ...)."
_NORMALIZED_DOC = (
    "{} in one spelling across API versions: ADDED, QUEUED, IN_PROGRESS, COMPLETED, FAILED or "
    "SKIPPED (an unknown value upper-cased, spaces as underscores)."
)

_FILE = th.ObjectType(
    th.Property("name", th.StringType, description="Name of the uploaded CSV file."),
    th.Property("status", th.StringType, description=_STATUS_DOC.format("File status")),
    th.Property(
        "normalized_status", th.StringType, description=_NORMALIZED_DOC.format("File status")
    ),
    th.Property(
        "added_count",
        th.IntegerType,
        description="Rows inserted; null while the job is ADDED (Zoho sends no counts yet).",
    ),
    th.Property("skipped_count", th.IntegerType, description="Rows skipped; null while ADDED."),
    th.Property("updated_count", th.IntegerType, description="Rows updated; null while ADDED."),
    th.Property("total_count", th.IntegerType, description="Rows processed; null while ADDED."),
)
_FIELD_MAPPING = th.ObjectType(
    th.Property("api_name", th.StringType, description="CRM field the column is written to."),
    th.Property("index", th.IntegerType, description="Zero-based column index in the CSV."),
    th.Property("format", th.StringType, description="Date/time format of the column."),
    th.Property("find_by", th.StringType, description="Unique field that finds lookup records."),
    th.Property("module", th.StringType, description="Module of a lookup field's records."),
    th.Property(
        "default_value",
        th.ObjectType(),
        description="Value used for empty cells, as Zoho returns it ({name|module|value}).",
    ),
    th.Property(
        "parent_column_index",
        th.IntegerType,
        description="Column of the parent record id in a subform or line-item CSV.",
    ),
)
_RESOURCE = th.ObjectType(
    th.Property(
        "module",
        th.StringType,
        description="Module API name (Zoho sends a string in v2 and an object in v2.1+).",
    ),
    th.Property("module_id", th.StringType, description="Module id (v2.1+ only)."),
    th.Property("type", th.StringType, description="Resource type; Zoho only has 'data'."),
    th.Property("status", th.StringType, description=_STATUS_DOC.format("Resource status")),
    th.Property(
        "normalized_status",
        th.StringType,
        description=_NORMALIZED_DOC.format("Resource status"),
    ),
    th.Property("code", th.StringType, description="Resource result code (v2.1+)."),
    th.Property("find_by", th.StringType, description="Field matching records on update/upsert."),
    th.Property("file", _FILE, description="The uploaded file and its row counts."),
    th.Property("field_mappings", th.ArrayType(_FIELD_MAPPING), description="CSV columns."),
)

WRITE_JOB_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="Bulk write job id."),
    th.Property("status", th.StringType, description=_STATUS_DOC.format("Job status")),
    th.Property(
        "normalized_status", th.StringType, description=_NORMALIZED_DOC.format("Job status")
    ),
    th.Property("operation", th.StringType, description="insert, update or upsert."),
    th.Property(
        "character_encoding",
        th.StringType,
        description="Encoding of the uploaded file; absent while the job is ADDED.",
    ),
    th.Property("ignore_empty", th.BooleanType, description="Empty cells left untouched (v2.1+)."),
    th.Property("created_time", th.DateTimeType, description="When the job was created, in UTC."),
    th.Property(
        "created_by",
        th.ObjectType(th.Property("id", th.StringType), th.Property("name", th.StringType)),
        description="The Zoho user who created the job.",
    ),
    th.Property(
        "callback",
        th.ObjectType(th.Property("url", th.StringType), th.Property("method", th.StringType)),
        description="Callback Zoho notifies when the job ends (v2.1+).",
    ),
    th.Property(
        "download_url",
        th.StringType,
        description="Where the result file of a COMPLETED job is downloaded from.",
    ),
    th.Property("resources", th.ArrayType(_RESOURCE), description="One entry per module."),
).to_dict()

WRITE_RESULT_SCHEMA = th.PropertiesList(
    th.Property("job_id", th.StringType, required=True, description="Bulk write job id."),
    th.Property(
        "row_number",
        th.IntegerType,
        required=True,
        description="One-based data row of the result file (the header is not counted).",
    ),
    th.Property("module", th.StringType, description="Module the job wrote to."),
    th.Property("status", th.StringType, description="STATUS column: added, updated, skipped, ..."),
    th.Property(
        "record_id", th.StringType, description="RECORD_ID column; null when no record was written."
    ),
    th.Property(
        "errors",
        th.ArrayType(
            th.ObjectType(
                th.Property("code", th.StringType, description="e.g. MANDATORY_NOT_FOUND."),
                th.Property("column", th.StringType, description="Column the error is about."),
            )
        ),
        description="ERRORS column, one entry per code and column (empty when the row passed).",
    ),
    th.Property(
        "values",
        th.ObjectType(additional_properties=th.StringType),
        description="The row's other columns, by header, as the result file has them.",
    ),
).to_dict()

READ_JOB_SCHEMA = th.PropertiesList(
    th.Property("job_id", th.StringType, required=True, description="Bulk read job id."),
    th.Property("stream", th.StringType, description="Stream the job exported for."),
    th.Property("module", th.StringType, description="Module API name."),
    th.Property("page", th.IntegerType, description="Result page the job produced."),
    th.Property("state", th.StringType, description="Last state seen (COMPLETED, FAILURE...)."),
    th.Property("count", th.IntegerType, description="Records in the job's result."),
    th.Property("more_records", th.BooleanType, description="Zoho had another page after this."),
    th.Property("created_time", th.DateTimeType, description="When the tap created it (UTC)."),
    th.Property(
        "completed_time",
        th.DateTimeType,
        description="When the tap saw it COMPLETED (UTC); null if it never was.",
    ),
    th.Property("seconds_to_complete", th.NumberType, description="completed_time - created_time."),
    th.Property("polls", th.IntegerType, description="Status calls made for the job."),
    th.Property(
        "criteria",
        th.ObjectType(),
        description="The job's criteria tree (incremental window and user criteria), or null.",
    ),
    th.Property(
        "field_count",
        th.IntegerType,
        description="Fields requested; 0 means every field (Zoho's default past 200 fields).",
    ),
    th.Property("credits", th.IntegerType, description="API credits spent creating the job."),
).to_dict()


def streams(tap: TapZohoBulk, names: Iterable[str] | None = None) -> list[Stream]:
    """The metadata streams (all, or those named, e.g. by an input catalog), sharing one fetch
    of the write jobs; checks `bulk_write_job_ids` before any stream spends a credit."""
    wanted = STREAM_NAMES if names is None else STREAM_NAMES.intersection(names)
    jobs = WriteJobs(tap, write_job_ids(tap.config))
    built: list[Stream] = []
    if BULK_WRITE_JOBS in wanted:
        built.append(BulkWriteJobsStream(tap, jobs))
    if BULK_WRITE_RESULTS in wanted:
        built.append(BulkWriteResultsStream(tap, jobs))
    if BULK_READ_JOBS in wanted:
        built.append(BulkReadJobsStream(tap))
    return built


def write_job_ids(config: Mapping[str, Any]) -> list[str]:
    """The configured job ids, deduplicated in order; an id that cannot be Zoho's is refused
    here, since it would otherwise end up as a path segment of the API URL."""
    ids: list[str] = []
    for value in config.get("bulk_write_job_ids") or []:
        text = str(value).strip()
        if not JOB_ID_RE.match(text):
            msg = f"bulk_write_job_ids: '{value}' is not a Zoho job id (digits only)."
            raise ConfigError(msg)
        if text not in ids:
            ids.append(text)
    return ids


class WriteJobs:
    """The named bulk write jobs, fetched on first use and kept for the rest of the run."""

    def __init__(self, tap: TapZohoBulk, ids: Sequence[str]) -> None:
        self._tap = tap
        self.ids = list(ids)
        self._fetched: list[dict[str, Any]] | None = None

    def fetch(self, stream: str) -> list[dict[str, Any]]:
        """Each known job's object as Zoho returns it; unknown ids become warnings."""
        if self._fetched is None:
            fetched = (self._fetch_one(job_id, stream) for job_id in self.ids)
            self._fetched = [job for job in fetched if job is not None]
        return self._fetched

    def _fetch_one(self, job_id: str, stream: str) -> dict[str, Any] | None:
        tap = self._tap
        try:
            answer = tap.client.get_json(
                f"/crm/bulk/{tap.api_version.name}/write/{job_id}", kind="write", stream=stream
            )
        except ZohoAPIError as exc:
            # 400 in the v2.1 capture (seed 003), 404 on the v2 doc page (seed 004).
            if exc.code != "RESOURCE_NOT_FOUND":
                raise
            tap.logger.warning(
                "Bulk write job %s does not exist in this Zoho org (RESOURCE_NOT_FOUND); "
                "remove it from bulk_write_job_ids.",
                job_id,
            )
            return None
        if not isinstance(answer, Mapping):
            msg = f"Zoho returned no job object for bulk write job {job_id}."
            raise ZohoAPIError(200, "UNEXPECTED_RESPONSE", msg)
        return {**answer, "id": str(answer.get("id") or job_id)}


class _MetadataStream(Stream):
    """A stream whose schema is fixed by the tap rather than discovered from Zoho."""

    def __init__(
        self,
        tap: TapZohoBulk,
        *,
        name: str,
        schema: dict[str, Any],
        primary_keys: list[str],
        selected_by_default: bool,
    ) -> None:
        # Without a catalog, a plain run emits the CRM data plus only the metadata asked for.
        self.selected_by_default = selected_by_default
        super().__init__(tap, schema=schema, name=name)
        self.primary_keys = primary_keys
        self._tap_ref = tap


class BulkWriteJobsStream(_MetadataStream):
    """One record per job named in `bulk_write_job_ids`: status, counts, mappings."""

    def __init__(self, tap: TapZohoBulk, jobs: WriteJobs) -> None:
        super().__init__(
            tap,
            name=BULK_WRITE_JOBS,
            schema=WRITE_JOB_SCHEMA,
            primary_keys=["id"],
            selected_by_default=bool(jobs.ids),
        )
        self._jobs = jobs

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for job in self._jobs.fetch(self.name):
            yield write_job_record(job)


class BulkWriteResultsStream(_MetadataStream):
    """The rows of each COMPLETED named job's result file: outcome, record id, errors.

    The result is downloaded from the job's absolute `download_url` through the tap's client,
    so the access token only ever goes to the API domain or Zoho's own HTTPS hosts.
    """

    def __init__(self, tap: TapZohoBulk, jobs: WriteJobs) -> None:
        super().__init__(
            tap,
            name=BULK_WRITE_RESULTS,
            schema=WRITE_RESULT_SCHEMA,
            primary_keys=["job_id", "row_number"],
            selected_by_default=bool(jobs.ids),
        )
        self._jobs = jobs

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for job in self._jobs.fetch(self.name):
            if normalize_status(job.get("status")) != "COMPLETED":
                self.logger.info(
                    "Bulk write job %s is %s: no result rows yet.", job["id"], job.get("status")
                )
                continue
            url = _text(_object(job.get("result")).get("download_url"))
            if not url:
                self.logger.warning(
                    "Bulk write job %s is COMPLETED but Zoho gave no download_url.", job["id"]
                )
                continue
            yield from self._rows(job, url)

    def _rows(self, job: Mapping[str, Any], url: str) -> Iterator[dict[str, Any]]:
        job_id = str(job["id"])
        resources = [r for r in job.get("resource") or [] if isinstance(r, Mapping)]
        module = _module(resources[0].get("module"))[0] if resources else None
        with tempfile.TemporaryDirectory(prefix="tap-zoho-bulk-write-") as tmp:
            path = Path(tmp) / f"{job_id}.zip"
            name = self._download(job_id, url, path)
            if name is None:
                return
            with open_result_member(path, name) as member:
                text = io.TextIOWrapper(member, encoding="utf-8-sig", errors="replace", newline="")
                yield from result_records(csv.reader(text), job_id=job_id, module=module)

    def _download(self, job_id: str, url: str, path: Path) -> str | None:
        """The result file's CSV member name once downloaded; None if Zoho no longer has it.

        A body cut short without the connection noticing only shows as an unreadable archive,
        so that is downloaded once more before giving up.
        """
        if not self._fetch(job_id, url, path):
            return None
        try:
            return _only_member(path, job_id)
        except CorruptArchiveError as exc:
            self.logger.warning("%s; downloading it again.", exc)
        if not self._fetch(job_id, url, path):
            return None
        return _only_member(path, job_id)

    def _fetch(self, job_id: str, url: str, path: Path) -> bool:
        try:
            self._tap_ref.client.download(url, path, kind="write", stream=self.name)
        except UnsafeURLError as exc:
            msg = f"Not downloading the result of bulk write job {job_id}: {exc}"
            raise UnsafeURLError(msg) from None
        except ZohoAPIError as exc:
            if exc.code != "RESOURCE_NOT_FOUND":
                raise
            self.logger.warning(
                "The result file of bulk write job %s is no longer available at Zoho.", job_id
            )
            return False
        return True


class BulkReadJobsStream(_MetadataStream):
    """One record per bulk read job this run created: latency, polls, size and credits.

    It reads `BulkReader.jobs`, which is final once every module stream has emitted its pages;
    the SDK syncs streams in name order and module names sort before `bulk_read_jobs`.
    """

    def __init__(self, tap: TapZohoBulk) -> None:
        super().__init__(
            tap,
            name=BULK_READ_JOBS,
            schema=READ_JOB_SCHEMA,
            primary_keys=["job_id"],
            selected_by_default=False,
        )

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        tap = self._tap_ref
        modules = [s for s in tap.streams.values() if isinstance(s, ModuleStream) and s.selected]
        if not modules:
            self.logger.info("No module stream is selected, so no bulk read job to report.")
            return
        order = list(tap.streams)
        later = [s.name for s in modules if order.index(s.name) > order.index(self.name)]
        if later:
            self.logger.warning(
                "'%s' is synced before module stream(s) %s; their jobs are reported as they "
                "are now, and later pages are missing.",
                self.name,
                ", ".join(later),
            )
        reader = tap.run.reader
        for job in list(reader.jobs if reader else []):
            yield read_job_record(job)


# -- records --------------------------------------------------------------------------------


def write_job_record(job: Mapping[str, Any]) -> dict[str, Any]:
    """A Zoho bulk write job object (any API version) as a `bulk_write_jobs` record."""
    created_by = _object(job.get("created_by"))
    callback = _object(job.get("callback"))
    result = _object(job.get("result"))
    return {
        "id": str(job["id"]),
        "status": _text(job.get("status")),
        "normalized_status": normalize_status(job.get("status")),
        "operation": _text(job.get("operation")),
        "character_encoding": _text(job.get("character_encoding")),
        "ignore_empty": _bool(job.get("ignore_empty")),
        "created_time": utc_time(job.get("created_time")),
        "created_by": (
            {"id": _text(created_by.get("id")), "name": _text(created_by.get("name"))}
            if created_by
            else None
        ),
        "callback": (
            {"url": _text(callback.get("url")), "method": _text(callback.get("method"))}
            if callback
            else None
        ),
        "download_url": _text(result.get("download_url")),
        "resources": [
            _resource_record(r) for r in job.get("resource") or [] if isinstance(r, Mapping)
        ],
    }


def _resource_record(resource: Mapping[str, Any]) -> dict[str, Any]:
    module, module_id = _module(resource.get("module"))
    file = _object(resource.get("file"))
    return {
        "module": module,
        "module_id": module_id,
        "type": _text(resource.get("type")),
        "status": _text(resource.get("status")),
        "normalized_status": normalize_status(resource.get("status")),
        "code": _text(resource.get("code")),
        "find_by": _text(resource.get("find_by")),
        "file": {
            "name": _text(file.get("name")),
            "status": _text(file.get("status")),
            "normalized_status": normalize_status(file.get("status")),
            "added_count": _int(file.get("added_count")),
            "skipped_count": _int(file.get("skipped_count")),
            "updated_count": _int(file.get("updated_count")),
            "total_count": _int(file.get("total_count")),
        },
        "field_mappings": [
            {
                "api_name": _text(m.get("api_name")),
                "index": _int(m.get("index")),
                "format": _text(m.get("format")),
                "find_by": _text(m.get("find_by")),
                "module": _module(m.get("module"))[0],
                "default_value": m.get("default_value")
                if isinstance(m.get("default_value"), Mapping)
                else None,
                "parent_column_index": _int(m.get("parent_column_index")),
            }
            for m in resource.get("field_mappings") or []
            if isinstance(m, Mapping)
        ],
    }


def result_records(
    rows: Iterator[list[str]], *, job_id: str, module: str | None
) -> Iterator[dict[str, Any]]:
    """Rows of a bulk write result CSV: mapped columns, then STATUS, RECORD_ID and ERRORS."""
    header = next(rows, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    position = {name.upper(): i for i, name in enumerate(names) if name.upper() in _RESULT_COLUMNS}
    others = [(i, name) for i, name in enumerate(names) if name.upper() not in _RESULT_COLUMNS]

    def cell(row: list[str], column: str) -> str:
        index = position.get(column)
        return row[index] if index is not None and index < len(row) else ""

    for number, row in enumerate((row for row in rows if row), start=1):
        yield {
            "job_id": job_id,
            "row_number": number,
            "module": module,
            "status": cell(row, "STATUS") or None,
            "record_id": cell(row, "RECORD_ID") or None,
            "errors": split_errors(cell(row, "ERRORS")),
            "values": {name: row[i] if i < len(row) else "" for i, name in others},
        }


def split_errors(text: str) -> list[dict[str, str | None]]:
    """`<CODE>-<column>` entries joined by ':'; a comma-separated column list names several
    columns with the same code (`MANDATORY_NOT_FOUND-Company,Last_Name`), one entry each."""
    errors: list[dict[str, str | None]] = []
    for part in text.split(":"):
        code, dash, columns = part.strip().partition("-")
        if not code:
            continue
        if not dash:
            errors.append({"code": code, "column": None})
            continue
        errors.extend(
            {"code": code, "column": column.strip() or None} for column in columns.split(",")
        )
    return errors


def read_job_record(job: JobStats) -> dict[str, Any]:
    """What the tap knows of one of its bulk read jobs, as a `bulk_read_jobs` record."""
    return {
        "job_id": job.job_id,
        "stream": job.stream,
        "module": job.module,
        "page": job.page,
        "state": job.state,
        "count": job.count,
        "more_records": job.more_records,
        "created_time": _utc_text(job.created_at),
        "completed_time": _utc_text(job.completed_at) if job.completed_at else None,
        "seconds_to_complete": job.seconds_to_complete,
        "polls": job.polls,
        "criteria": job.criteria if isinstance(job.criteria, Mapping) else None,
        "field_count": job.field_count,
        "credits": job.credits,
    }


def normalize_status(value: object) -> str | None:
    """One spelling per status, whatever the API version or endpoint said."""
    if not isinstance(value, str) or not value.strip():
        return None
    words = value.upper().split()
    return _CANONICAL_STATUS.get("".join(words).replace("_", ""), "_".join(words))


def utc_time(value: object) -> str | None:
    """Zoho's offset timestamp (e.g. +05:30) as UTC ISO 8601, so times compare as text."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _utc_text(moment)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _only_member(path: Path, job_id: str) -> str:
    """The result ZIP's one member, named by Zoho after the upload (`{Module}-{file}`), which
    `open_result_member` then checks as it does a Bulk Read result."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError) as exc:
        msg = f"The result of bulk write job {job_id} is not a readable ZIP archive: {exc}"
        raise CorruptArchiveError(msg) from exc
    if len(names) != 1:
        msg = (
            f"The result of bulk write job {job_id} holds {len(names)} files; this tap reads "
            "results of one CSV (jobs writing one module)."
        )
        raise UnsafeArchiveError(msg)
    return names[0]


def _module(value: object) -> tuple[str | None, str | None]:
    """(api_name, id) of a module given as a string (v2) or `{id, api_name}` (v2.1+)."""
    if isinstance(value, Mapping):
        return _text(value.get("api_name")), _text(value.get("id"))
    return _text(value), None


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    return str(value)


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None
