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
import logging
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk import typing as th
from typing_extensions import override

from tap_zoho_bulk.errors import ConfigError, CorruptArchiveError, UnsafeArchiveError
from tap_zoho_bulk.results.archive import open_result_member, verify_result
from tap_zoho_bulk.singer.summary import TalliedRecords
from tap_zoho_bulk.utc import parse_utc, utc_text
from tap_zoho_bulk.zoho import bulk_write
from tap_zoho_bulk.zoho.wire import WriteFile, WriteJob, WriteResource, id_text, module_names

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_zoho_bulk.singer.run import Run
    from tap_zoho_bulk.singer.tap import TapZohoBulk
    from tap_zoho_bulk.zoho.client import ZohoClient
    from tap_zoho_bulk.zoho.criteria import ApiVersion
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


def streams(
    tap: TapZohoBulk,
    run: Run,
    client: ZohoClient,
    version: ApiVersion,
    names: Iterable[str] | None = None,
) -> list[Stream]:
    """The metadata streams (all, or those named, e.g. by an input catalog), sharing one fetch
    of the write jobs; checks `bulk_write_job_ids` before any stream spends a credit."""
    wanted = STREAM_NAMES if names is None else STREAM_NAMES.intersection(names)
    jobs = WriteJobs(client, version, write_job_ids(tap.config), tap.logger)
    built: list[Stream] = []
    if BULK_WRITE_JOBS in wanted:
        built.append(BulkWriteJobsStream(tap, run, jobs))
    if BULK_WRITE_RESULTS in wanted:
        built.append(BulkWriteResultsStream(tap, run, jobs, client))
    if BULK_READ_JOBS in wanted:
        built.append(BulkReadJobsStream(tap, run))
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

    def __init__(
        self, client: ZohoClient, version: ApiVersion, ids: Sequence[str], logger: logging.Logger
    ) -> None:
        self._client = client
        self._version = version
        self._logger = logger
        self.ids = list(ids)
        self._fetched: list[WriteJob] | None = None

    def fetch(self, stream: str) -> list[WriteJob]:
        """Each known job as Zoho describes it; unknown ids become warnings."""
        if self._fetched is None:
            fetched = (
                bulk_write.fetch_job(
                    self._client, self._version, job_id, stream=stream, logger=self._logger
                )
                for job_id in self.ids
            )
            self._fetched = [job for job in fetched if job is not None]
        return self._fetched


class _MetadataStream(TalliedRecords):
    """A stream whose schema is fixed by the tap rather than discovered from Zoho."""

    def __init__(
        self,
        tap: TapZohoBulk,
        run: Run,
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
        self._run = run


class BulkWriteJobsStream(_MetadataStream):
    """One record per job named in `bulk_write_job_ids`: status, counts, mappings."""

    def __init__(self, tap: TapZohoBulk, run: Run, jobs: WriteJobs) -> None:
        super().__init__(
            tap,
            run,
            name=BULK_WRITE_JOBS,
            schema=WRITE_JOB_SCHEMA,
            primary_keys=["id"],
            selected_by_default=bool(jobs.ids),
        )
        self._jobs = jobs

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for job in self._jobs.fetch(self.name):
            yield write_job_record(job)


class BulkWriteResultsStream(_MetadataStream):
    """The rows of each COMPLETED named job's result file: outcome, record id, errors.

    The result is downloaded from the job's absolute `download_url` through the tap's client,
    so the access token only ever goes to the API domain or Zoho's own HTTPS hosts.
    """

    def __init__(self, tap: TapZohoBulk, run: Run, jobs: WriteJobs, client: ZohoClient) -> None:
        super().__init__(
            tap,
            run,
            name=BULK_WRITE_RESULTS,
            schema=WRITE_RESULT_SCHEMA,
            primary_keys=["job_id", "row_number"],
            selected_by_default=bool(jobs.ids),
        )
        self._jobs = jobs
        self._client = client

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for job in self._jobs.fetch(self.name):
            if normalize_status(job.status) != "COMPLETED":
                self.logger.info("Bulk write job %s is %s: no result rows yet.", job.id, job.status)
                continue
            url = job.download_url
            if not url:
                self.logger.warning(
                    "Bulk write job %s is COMPLETED but Zoho gave no download_url.", job.id
                )
                continue
            yield from self._rows(job, url)

    def _rows(self, job: WriteJob, url: str) -> Iterator[dict[str, Any]]:
        job_id = str(job.id)
        module = module_names(job.resource[0].module)[0] if job.resource else None
        with tempfile.TemporaryDirectory(prefix="tap-zoho-bulk-write-") as tmp:
            path = Path(tmp) / f"{job_id}.zip"
            if not bulk_write.download_result(
                self._client,
                job_id,
                url,
                path,
                verify=lambda downloaded: _verify_write_result(downloaded, job_id),
                stream=self.name,
                logger=self.logger,
            ):
                return
            with open_result_member(path, _only_member(path, job_id)) as member:
                text = io.TextIOWrapper(member, encoding="utf-8-sig", errors="replace", newline="")
                yield from result_records(csv.reader(text), job_id=job_id, module=module)


class BulkReadJobsStream(_MetadataStream):
    """One record per bulk read job this run created: latency, polls, size and credits.

    It reads the run's jobs, final once every module stream has emitted its pages: the tap
    syncs this stream after all the others.
    """

    def __init__(self, tap: TapZohoBulk, run: Run) -> None:
        super().__init__(
            tap,
            run,
            name=BULK_READ_JOBS,
            schema=READ_JOB_SCHEMA,
            primary_keys=["job_id"],
            selected_by_default=False,
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        for job in self._run.jobs():
            yield read_job_record(job)


# -- records --------------------------------------------------------------------------------


def write_job_record(job: WriteJob) -> dict[str, Any]:
    """A Zoho bulk write job (any API version) as a `bulk_write_jobs` record."""
    created_by, callback = job.created_by, job.callback
    return {
        "id": str(job.id),
        "status": job.status,
        "normalized_status": normalize_status(job.status),
        "operation": job.operation,
        "character_encoding": job.character_encoding,
        "ignore_empty": job.ignore_empty,
        "created_time": utc_time(job.created_time),
        "created_by": (
            {"id": id_text(created_by.id), "name": created_by.name}
            if created_by is not None
            else None
        ),
        "callback": (
            {"url": callback.url, "method": callback.method} if callback is not None else None
        ),
        "download_url": job.download_url,
        "resources": [_resource_record(r) for r in job.resource],
    }


def _resource_record(resource: WriteResource) -> dict[str, Any]:
    module, module_id = module_names(resource.module)
    file = resource.file or WriteFile()
    return {
        "module": module,
        "module_id": module_id,
        "type": resource.type,
        "status": resource.status,
        "normalized_status": normalize_status(resource.status),
        "code": resource.code,
        "find_by": resource.find_by,
        "file": {
            "name": file.name,
            "status": file.status,
            "normalized_status": normalize_status(file.status),
            "added_count": file.added_count,
            "skipped_count": file.skipped_count,
            "updated_count": file.updated_count,
            "total_count": file.total_count,
        },
        "field_mappings": [
            {
                "api_name": m.api_name,
                "index": m.index,
                "format": m.format,
                "find_by": m.find_by,
                "module": module_names(m.module)[0],
                "default_value": m.default_value,
                "parent_column_index": m.parent_column_index,
            }
            for m in resource.field_mappings
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
        "created_time": utc_text(job.created_at),
        "completed_time": utc_text(job.completed_at) if job.completed_at else None,
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
        return utc_text(parse_utc(value))
    except (ValueError, OverflowError):
        return None


def _verify_write_result(path: Path, job_id: str) -> None:
    """Check a bulk write result whole before any of its rows is emitted, as a Bulk Read
    result is; raises CorruptArchiveError or UnsafeArchiveError."""
    name = _only_member(path, job_id)
    try:
        verify_result(path, name)
    except ValueError as exc:  # a member name like a path
        msg = f"The result of bulk write job {job_id} holds a file named like a path: {exc}"
        raise UnsafeArchiveError(msg) from None


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
