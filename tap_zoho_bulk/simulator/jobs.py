"""Bulk Read jobs: request parsing, the clock-driven state machine, paging, result files, limits.

Everything here runs on the simulated clock (`Clock`), so a test can jump a job from ADDED to
COMPLETED, let a result expire or free the download window with `advance()` instead of sleeping.
Each job reads the Dataset snapshot taken when it was created, so data mutated (or deleted) later
never leaks into a page that was already promised, exactly as a tap must expect from Zoho; its
Now()-based formulas are computed at that moment too. Job ids come from the real clock, so no two
starts of the simulator hand out the same id, whatever the seed.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .catalog import ORG_PREFIX, Module
from .data import Dataset, PageInfo, Snapshot
from .oauth import User

JOB_FAILURE_MESSAGE: dict[str, object] = {
    "status": "error",
    "code": "INTERNAL_SERVER_ERROR",
    "message": "Internal server error occurred.",
    "details": {},
}
PAGE_TOKEN_ERROR_MESSAGE = "the given page_token is invalid or expired"  # noqa: S105 - a message
DOWNLOAD_WINDOW_SECONDS = 60.0  # Zoho's: 10 downloads a minute, then 429 until it passes
JOB_ID_SPAN = 10**12
"""Job ids are ORG_PREFIX and 12 digits: 19 in all, like Zoho's, and below 2**63 (int64)."""


@dataclass(frozen=True)
class ApiError:
    """A Zoho error reply: HTTP status and the `{code, details, message, status}` envelope."""

    status: int
    code: str
    message: str
    details: object = field(default_factory=dict)
    retry_after: int | None = None  # seconds, sent as a Retry-After header when set

    def body(self) -> dict[str, object]:
        """The envelope, keys in the order of the captured samples."""
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


def invalid(api_name: str, message: str = "invalid data") -> ApiError:
    """INVALID_REQUEST naming the offending key, the bulk-read code for a malformed query."""
    return ApiError(400, "INVALID_REQUEST", message, {"api_name": api_name})


class Clock:
    """Simulated time: real elapsed time plus whatever `advance` added, as epoch seconds."""

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current simulated epoch time; never goes backwards."""
        with self._lock:
            return self._wall0 + (time.monotonic() - self._mono0) + self._offset

    @property
    def offset(self) -> float:
        """Seconds the simulated clock runs ahead of real time."""
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the total offset from real time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._offset


def wall_micros() -> int:
    """Real time in microseconds since the epoch (what job ids are made of)."""
    return time.time_ns() // 1000


def parse_utc_offset(text: str) -> timezone:
    """'+05:30' / '-08:00' / 'Z' as a tzinfo; the offset Zoho renders the user's times in."""
    if text in ("Z", "z"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", text)
    if not match or int(match[2]) > 23 or int(match[3]) > 59:
        raise ValueError(f"UTC offset {text!r} is not like +05:30")
    delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-delta if match[1] == "-" else delta)


def format_time(epoch: float, tz: timezone) -> str:
    """Zoho's timestamp style: ISO 8601, second precision, explicit offset."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat(timespec="seconds")


@dataclass(frozen=True, order=True)
class ApiVersion:
    """A CRM API version from the URL; the wire shapes change at v2.1, v6 and v7."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> ApiVersion | None:
        """`v2`, `v2.1`, `v3`..`v8`; anything else is not a path Zoho serves."""
        match = re.fullmatch(r"v(\d)(?:\.(\d))?", text)
        if not match:
            return None
        version = cls(int(match[1]), int(match[2] or 0))
        return (
            version
            if version == cls(2, 1) or (version.minor == 0 and 2 <= version.major <= 8)
            else None
        )

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}" if self.minor else f"v{self.major}"

    @property
    def object_shapes(self) -> bool:
        """v2.1+ echo modules as {id, api_name} and criteria leaves with `field`."""
        return self >= ApiVersion(2, 1)

    @property
    def has_queued(self) -> bool:
        """QUEUED is documented from v6 onwards."""
        return self.major >= 6

    @property
    def has_page_token(self) -> bool:
        """v7+ continue past a page with page_token / next_page_token."""
        return self.major >= 7


@dataclass(frozen=True)
class ReadRequest:
    """A parsed create-job body; None marks a key that was not sent (the echo omits it)."""

    module: str
    fields: list[str] | None = None
    criteria: dict[str, Any] | None = None
    cvid: str | None = None
    page: int = 1
    page_token: str | None = None
    snapshot: Snapshot | None = None


@dataclass(frozen=True)
class _PageGrant:
    """What a page_token stands for: the next page of a query, for one user, until expiry."""

    user_id: str
    request: ReadRequest
    expires_at: float


@dataclass(eq=False)
class ReadJob:
    """One bulk read job; its state is a function of the simulated clock."""

    id: str
    version: ApiVersion
    user: User
    request: ReadRequest
    module: Module
    columns: list[str]
    snapshot: Snapshot
    created_at: float
    done_at: float
    fails: bool
    info: PageInfo | None = None
    next_page_token: str | None = None
    file: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finished(self, now: float) -> bool:
        """Whether the job has reached COMPLETED or FAILURE."""
        return now >= self.done_at

    def state(self, now: float, version: ApiVersion) -> str:
        """ADDED for the first quarter, QUEUED (v6+) to half-time, then IN PROGRESS, then done."""
        if self.finished(now):
            return "FAILURE" if self.fails else "COMPLETED"
        span = self.done_at - self.created_at
        elapsed = now - self.created_at
        if elapsed < span / 4:
            return "ADDED"
        if elapsed < span / 2:
            return "QUEUED" if version.has_queued else "ADDED"
        return "IN PROGRESS"


@dataclass(frozen=True)
class ReadSettings:
    """The knobs of the bulk read service (see the Simulator options)."""

    page_size: int = 200_000
    job_seconds: float = 0.0
    tz: timezone = UTC
    result_retention_seconds: float = 86_400.0
    page_token_lifetime: float = 86_400.0
    max_in_flight_jobs: int = 20
    download_limit_per_minute: int = 10
    download_window_seconds: float = DOWNLOAD_WINDOW_SECONDS
    download_retry_after: bool = False
    no_permission_modules: frozenset[str] = frozenset()


class BulkReads:
    """All bulk read jobs of a simulator, their page tokens, result files and limits."""

    def __init__(
        self,
        *,
        dataset: Dataset,
        clock: Clock,
        settings: ReadSettings,
        workdir: Path,
        token_key: bytes,
        module_fails: Callable[[str], bool],
    ) -> None:
        self.dataset = dataset
        self.clock = clock
        self.settings = settings
        self.workdir = workdir
        self._token_key = token_key
        self._module_fails = module_fails
        self._jobs: dict[str, ReadJob] = {}
        self._last_stamp = -1
        self._grants: dict[str, _PageGrant] = {}
        self._download_times: deque[float] = deque()
        self._lock = threading.RLock()
        self.downloads_served = 0
        self.downloads_refused = 0

    # -- creating -------------------------------------------------------------------------

    def parse(self, version: ApiVersion, body: object, user: User) -> ReadRequest | ApiError:
        """Turn a create-job body into a ReadRequest; resolves a page_token to its query."""
        if not isinstance(body, dict):
            return ApiError(
                400, "REQUEST_BODY_NOT_SUPPORTED", "request body contains invalid format"
            )
        query = body.get("query")
        if not isinstance(query, dict):
            return _mandatory("query")
        file_type = query.get("file_type", body.get("file_type", "csv"))
        if file_type != "csv":
            return invalid("file_type", "only csv export is supported by the simulator")
        page = query.get("page", 1)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            return invalid("page")
        if "page_token" in query:
            return self._resolve_token(version, query["page_token"], user)
        return _plain_request(query, page)

    def _resolve_token(
        self, version: ApiVersion, token: object, user: User
    ) -> ReadRequest | ApiError:
        if not version.has_page_token:
            return invalid("page_token", f"page_token is not supported in {version}")
        with self._lock:
            grant = self._grants.get(token) if isinstance(token, str) else None
        if grant is None or grant.user_id != user.id or self.clock.now() > grant.expires_at:
            return invalid("page_token", PAGE_TOKEN_ERROR_MESSAGE)
        return grant.request

    def create(self, version: ApiVersion, user: User, request: ReadRequest) -> ReadJob | ApiError:
        """Validate the query against the Dataset and start a job, or say why not."""
        if request.snapshot is None:
            error = self.dataset.validate_query(request.module, request.fields, request.criteria)
            if error is not None:
                return ApiError(error.status, error.code, error.message, error.details)
        if request.module in self.settings.no_permission_modules:
            return ApiError(403, "NO_PERMISSION", "Permission denied to read")
        now = self.clock.now()
        with self._lock:
            in_flight = sum(1 for job in self._jobs.values() if not job.finished(now))
            if in_flight >= self.settings.max_in_flight_jobs:
                return ApiError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Maximum number of concurrent bulk read jobs reached. "
                    "Please try again after some time.",
                )
            job_id = self._new_job_id()
            # The data is read now, in real time (record stamps follow the real clock, not the
            # simulated one), so later mutations stamp their records after this read.
            snapshot = (
                request.snapshot
                if request.snapshot is not None
                else self.dataset.snapshot(at=datetime.now(UTC))
            )
            job = ReadJob(
                id=job_id,
                version=version,
                user=user,
                request=request,
                module=self.dataset.modules[request.module],
                columns=self.dataset.resolve_columns(request.module, request.fields),
                snapshot=snapshot,
                created_at=now,
                done_at=now + self.settings.job_seconds,
                fails=self._module_fails(request.module),
            )
            self._jobs[job_id] = job
        return job

    def _new_job_id(self) -> str:
        """A job id no earlier start of the simulator handed out (call with the lock held).

        The 12 digits after ORG_PREFIX are the real clock in microseconds (modulo 10**12, about
        11.6 days), strictly increasing within a server, so a client that remembers job ids
        across runs never meets an old one again; the data stays a function of the seed.
        """
        stamp = max(self._last_stamp + 1, wall_micros() % JOB_ID_SPAN) % JOB_ID_SPAN
        while f"{ORG_PREFIX}{stamp:012d}" in self._jobs:  # after the 11.6-day wrap
            stamp = (stamp + 1) % JOB_ID_SPAN
        self._last_stamp = stamp
        return f"{ORG_PREFIX}{stamp:012d}"

    def created_body(self, job: ReadJob) -> dict[str, object]:
        """The 201 envelope of seed 001."""
        details = {
            "id": job.id,
            "operation": "read",
            "state": "ADDED",
            "created_by": {"id": job.user.id, "name": job.user.name},
            "created_time": format_time(job.created_at, self.settings.tz),
        }
        return {
            "data": [
                {
                    "status": "success",
                    "code": "ADDED_SUCCESSFULLY",
                    "message": "Added successfully.",
                    "details": details,
                }
            ],
            "info": {},
        }

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: str) -> ReadJob | None:
        """The job with this id, if it exists."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[ReadJob]:
        """All jobs in creation order."""
        with self._lock:
            return list(self._jobs.values())

    def page_info(self, job: ReadJob) -> PageInfo:
        """Count the job's page once (lazily: filtering a big module takes a moment)."""
        with job.lock:
            if job.info is None:
                job.info = self.dataset.count_page(
                    module=job.request.module,
                    criteria=job.request.criteria,
                    page=job.request.page,
                    per_page=self.settings.page_size,
                    snapshot=job.snapshot,
                )
                if job.info.more_records and not job.fails:
                    job.next_page_token = self._grant_next_page(job)
            return job.info

    def _grant_next_page(self, job: ReadJob) -> str:
        token = hashlib.sha256(self._token_key + job.id.encode()).hexdigest()[:36]
        request = ReadRequest(
            module=job.request.module,
            fields=job.request.fields,
            criteria=job.request.criteria,
            cvid=job.request.cvid,
            page=job.request.page + 1,
            page_token=token,
            snapshot=job.snapshot,
        )
        expires_at = job.done_at + self.settings.page_token_lifetime
        with self._lock:
            self._grants[token] = _PageGrant(job.user.id, request, expires_at)
        return token

    def expire_page_tokens(self) -> int:
        """Invalidate every page_token issued so far."""
        with self._lock:
            count = len(self._grants)
            self._grants.clear()
        return count

    def render(self, job: ReadJob, version: ApiVersion) -> dict[str, object]:
        """The job object of GET /crm/bulk/{ver}/read/{id}, shaped for the requested version."""
        now = self.clock.now()
        state = job.state(now, version)
        out: dict[str, object] = {"id": job.id, "operation": "read", "state": state}
        if state == "FAILURE":
            out["result"] = {"error_message": dict(JOB_FAILURE_MESSAGE)}
        elif state == "COMPLETED":
            info = self.page_info(job)
            result: dict[str, object] = {
                "page": job.request.page,
                "per_page": self.settings.page_size,
                "count": info.count,
                "download_url": f"/crm/bulk/{version}/read/{job.id}/result",
                "more_records": info.more_records,
            }
            if version.has_page_token and job.next_page_token:
                result["next_page_token"] = job.next_page_token
            out["result"] = result
        out["query"] = self._echo_query(job, version)
        out["created_by"] = {"id": job.user.id, "name": job.user.name}
        out["created_time"] = format_time(job.created_at, self.settings.tz)
        out["file_type"] = "csv"
        return out

    def _echo_query(self, job: ReadJob, version: ApiVersion) -> dict[str, object]:
        request = job.request
        echo: dict[str, object] = {}
        if request.fields is not None:
            echo["fields"] = list(request.fields)
        echo["module"] = (
            {"id": job.module.id, "api_name": job.module.api_name}
            if version.object_shapes
            else job.module.api_name
        )
        if request.criteria is not None:
            echo["criteria"] = _echo_criteria(request.criteria, job.module, version)
        echo["page"] = request.page
        if request.cvid is not None:
            echo["cvid"] = request.cvid
        if request.page_token is not None:
            echo["page_token"] = request.page_token
        return echo

    # -- downloading ----------------------------------------------------------------------

    def download(self, job_id: str) -> Path | ApiError:
        """The result ZIP of a completed job, written on first request; enforces the limits."""
        now = self.clock.now()
        with self._lock:
            window = self._download_times
            span = self.settings.download_window_seconds
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= self.settings.download_limit_per_minute:
                self.downloads_refused += 1
                # Zoho is not known to send Retry-After (reference §8); it is an option here.
                retry_after = math.ceil(window[0] + span - now)
                return ApiError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Download limit reached. Please try again after some time.",
                    retry_after=retry_after if self.settings.download_retry_after else None,
                )
            window.append(now)
            job = self._jobs.get(job_id)
        self.sweep()
        missing = ApiError(
            404, "RESOURCE_NOT_FOUND", "The requested resource doesn't exist.", {"resource": job_id}
        )
        if job is None or job.fails or not job.finished(now) or self._expired(job, now):
            return missing
        self.page_info(job)  # a download completes the job's result even if nobody polled
        with job.lock:
            if job.file is None:
                path = self.workdir / f"{job.id}.zip"
                partial = path.with_suffix(".part")
                with partial.open("wb") as dest:
                    self.dataset.write_page(
                        dest,
                        job_id=job.id,
                        module=job.request.module,
                        columns=job.columns,
                        criteria=job.request.criteria,
                        page=job.request.page,
                        per_page=self.settings.page_size,
                        snapshot=job.snapshot,
                    )
                partial.replace(path)
                job.file = path
            with self._lock:
                self.downloads_served += 1
            return job.file

    def _expired(self, job: ReadJob, now: float) -> bool:
        return now > job.done_at + self.settings.result_retention_seconds

    def sweep(self) -> None:
        """Delete result files whose retention has passed."""
        now = self.clock.now()
        for job in self.jobs():
            if job.file is not None and self._expired(job, now):
                with job.lock:
                    if job.file is not None:
                        job.file.unlink(missing_ok=True)
                        job.file = None

    def cleanup(self) -> None:
        """Remove every result file (simulator shutdown)."""
        for job in self.jobs():
            with job.lock:
                if job.file is not None:
                    job.file.unlink(missing_ok=True)
                    job.file = None

    def in_flight(self) -> int:
        """Jobs that have not finished yet."""
        now = self.clock.now()
        return sum(1 for job in self.jobs() if not job.finished(now))

    def describe(self) -> list[dict[str, object]]:
        """Per-job summary for stats."""
        now = self.clock.now()
        out: list[dict[str, object]] = []
        for job in self.jobs():
            state = job.state(now, job.version)
            entry: dict[str, object] = {
                "id": job.id,
                "version": str(job.version),
                "module": job.module.api_name,
                "state": state,
                "page": job.request.page,
                "user_id": job.user.id,
            }
            if job.info is not None:
                entry["count"] = job.info.count
                entry["more_records"] = job.info.more_records
            out.append(entry)
        return out


def _mandatory(api_name: str) -> ApiError:
    return ApiError(400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": api_name})


_OPTIONAL_KEYS: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("fields", lambda v: isinstance(v, list) and all(isinstance(f, str) for f in v)),
    ("criteria", lambda v: isinstance(v, dict)),
    ("cvid", lambda v: isinstance(v, str)),
)


def _plain_request(query: Mapping[str, Any], page: int) -> ReadRequest | ApiError:
    """A query naming its module (string, or {"api_name"} on any version)."""
    module = query.get("module")
    if isinstance(module, dict):
        module = module.get("api_name")
    if module is None:
        return _mandatory("module")
    if not isinstance(module, str):
        return invalid("module")
    for key, well_formed in _OPTIONAL_KEYS:
        if query.get(key) is not None and not well_formed(query[key]):
            return invalid(key)
    return ReadRequest(module, query.get("fields"), query.get("criteria"), query.get("cvid"), page)


def _leaf_name(leaf: Mapping[str, Any]) -> str:
    field_obj = leaf.get("field")
    if isinstance(field_obj, dict) and "api_name" in field_obj:
        return str(field_obj["api_name"])
    return str(leaf.get("api_name"))


def _echo_criteria(
    node: Mapping[str, Any], module: Module, version: ApiVersion
) -> dict[str, object]:
    """Criteria as Zoho echoes them: v2 leaves by api_name, v2.1+ with field {id, api_name}."""
    if "group" in node:
        group = node.get("group")
        return {
            "group": [
                _echo_criteria(child, module, version)
                for child in (group if isinstance(group, list) else [])
                if isinstance(child, dict)
            ],
            "group_operator": node.get("group_operator"),
        }
    name = _leaf_name(node)
    if not version.object_shapes:
        return {"api_name": name, "comparator": node.get("comparator"), "value": node.get("value")}
    known = module.field(name) if "." not in name else None
    return {
        "field": {"id": known.id if known is not None else None, "api_name": name},
        "comparator": node.get("comparator"),
        "value": node.get("value"),
    }
