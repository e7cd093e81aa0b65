"""The check of an input STATE, so a hand-edited or truncated one fails before any call.

A STATE names the bulk jobs an interrupted run left open, and the bookmark the next window
starts from. Read wrongly, it would either crash mid-run (after jobs were paid for) or quietly
export from the wrong place; so every key the tap reads is checked up front, and a problem is
reported in one line that names the stream and the key. Keys the tap does not read are left
alone, so a STATE written by a later version still loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from tap_zoho_bulk.errors import ConfigError
from tap_zoho_bulk.singer.settings import shown
from tap_zoho_bulk.utc import parse_utc

DATE_TIME = "an ISO 8601 date-time string, e.g. 2025-06-01T00:00:00Z"
PAGE = "an integer >= 1"
JOB_ID = "a non-empty string"
WINDOW = "null or [start or null, end] as ISO 8601 date-time strings"


def check_state(state: Mapping[str, Any]) -> None:
    """Refuse a STATE whose shape the tap or singer-sdk would trip over; `{}` is fine.

    The argument is typed as the SDK passes it, but a STATE file may hold any JSON value.
    """
    if not isinstance(state, Mapping):
        msg = f"State is {shown(state)}; expected a JSON object (or no --state at all)."
        raise ConfigError(msg)
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, Mapping):
        msg = f"State bookmarks is {shown(bookmarks)}; expected an object of streams."
        raise ConfigError(msg)
    for name, stream_state in bookmarks.items():
        _Stream(str(name)).check(stream_state)


@dataclass(frozen=True)
class _Stream:
    """One stream's bookmark, which carries its name into every message."""

    name: str

    def check(self, state: Any) -> None:
        if not isinstance(state, Mapping):
            self.refuse(f"its state is {shown(state)} (expected an object)")
        self.key(state, "replication_key", _is_text, "a string")
        self.key(state, "replication_key_value", _is_date_time, DATE_TIME)
        self.key(state, "bookmark_ids", _is_texts, "a list of strings")
        self.key(state, "formula_refreshed_at", _is_date_time, DATE_TIME)
        # singer-sdk pops progress markers and walks partitions at the start of every sync.
        self.key(state, "progress_markers", _is_object, "an object")
        self.key(state, "partitions", _is_objects, "a list of objects")
        if "bulk_job" in state:
            self.job(state["bulk_job"])

    def job(self, job: Any) -> None:
        """The open job to resume: a wrong id or page would pay for a job that cannot be read."""
        if not isinstance(job, Mapping):
            self.refuse(
                f"bulk_job is {shown(job)} (expected an object with job_id and page; remove "
                "it to export the window afresh)"
            )
        self.key(job, "job_id", _is_job_id, JOB_ID, owner="bulk_job", required=True)
        self.key(job, "page", _is_page, PAGE, owner="bulk_job", required=True)
        self.key(job, "window", _is_window, WINDOW, owner="bulk_job")
        later = job.get("later_jobs", [])
        if not isinstance(later, list):
            self.refuse(f"bulk_job later_jobs is {shown(later)} (expected a list of objects)")
        for index, other in enumerate(later):
            owner = f"bulk_job later_jobs[{index}]"
            if not isinstance(other, Mapping):
                self.refuse(f"{owner} is {shown(other)} (expected an object with job_id and page)")
            self.key(other, "job_id", _is_job_id, JOB_ID, owner=owner, required=True)
            self.key(other, "page", _is_page, PAGE, owner=owner, required=True)

    def key(
        self,
        value: Mapping[str, Any],
        key: str,
        valid: Callable[[Any], bool],
        expected: str,
        *,
        owner: str = "",
        required: bool = False,
    ) -> None:
        """Refuse `value[key]` unless it is valid; a missing key only when it is required."""
        if key not in value:
            if required:
                self.refuse(f"{owner} has no {key} (expected {expected})")
            return
        if not valid(value[key]):
            label = f"{owner} {key}" if owner else key
            self.refuse(f"{label} is {shown(value[key])} (expected {expected})")

    def refuse(self, problem: str) -> NoReturn:
        msg = f"State for stream '{self.name}': {problem}."
        raise ConfigError(msg)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_object(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


def _is_job_id(value: Any) -> bool:
    """Zoho's job ids are long digit strings, and the tap writes them as such."""
    return isinstance(value, str) and bool(value)


def _is_page(value: Any) -> bool:
    """JSON `true` is a bool in Python, and a bool is an int: neither is a page number."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_window(value: Any) -> bool:
    """An open job's window is resumed as it was exported, so both ends must parse."""
    if value is None:
        return True
    if not isinstance(value, list) or len(value) != 2:
        return False
    start, end = value
    return (start is None or _is_date_time(start)) and _is_date_time(end)


def _is_date_time(value: Any) -> bool:
    """What the stream's own parser accepts: `Z`, an offset, or none (read as UTC)."""
    if not isinstance(value, str):
        return False
    try:
        parse_utc(value)
    except (ValueError, OverflowError):
        return False
    return True
