"""What a Bulk Read job asks for: the API version's request shapes, criteria and the query.

Pure functions of the version and the plan, with no I/O: the job lifecycle (`export.py`) sends
what these build, and the Singer layer uses the limits and builders to check a plan up front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tap_zoho_bulk.errors import ConfigError
from tap_zoho_bulk.utc import utc_text

#: The versions whose Bulk Read this tap speaks (reference §1.2); the config schema's allowed
#: values of `api_version` are this list.
API_VERSIONS = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")
MAX_CRITERIA = 25  # Zoho's limit on leaves in one query (reference §4.3)
MAX_FIELDS = 200  # above this Zoho silently exports every field (reference §4.2)
VERSION_RE = re.compile(r"^v(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class ApiVersion:
    """A Zoho API version and the request shapes that go with it (reference §1.2)."""

    name: str
    major: int
    minor: int

    @classmethod
    def parse(cls, name: str) -> ApiVersion:
        match = VERSION_RE.match(name)
        if name not in API_VERSIONS or not match:
            msg = f"Unsupported api_version '{name}': use {', '.join(API_VERSIONS)}."
            raise ConfigError(msg)
        return cls(name, int(match.group(1)), int(match.group(2) or 0))

    @property
    def module_as_object(self) -> bool:
        """v2 takes `"module": "Leads"`; v2.1 and later `{"api_name": "Leads"}`."""
        return (self.major, self.minor) > (2, 0)

    @property
    def uses_page_token(self) -> bool:
        """v7+ reach records past the first 200,000 only through `page_token`."""
        return self.major >= 7


def window_criteria(
    replication_key: str, start: datetime | None, end: datetime
) -> list[dict[str, str]]:
    """`start <= key < end` at second precision, as Zoho rejects milliseconds."""
    bounds = [("greater_equal", start), ("less_than", end)]
    return [
        {
            "api_name": replication_key,
            "comparator": comparator,
            "value": utc_text(moment, whole_seconds=True),
        }
        for comparator, moment in bounds
        if moment is not None
    ]


def combine_criteria(leaves: Sequence[Mapping[str, Any]], user: Mapping[str, Any] | None) -> Any:
    """AND the window with the user's criteria; None when there is nothing to filter on."""
    parts: list[Mapping[str, Any]] = [*leaves]
    if user:
        parts.append(user)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return {"group_operator": "and", "group": parts}


def count_criteria(criteria: Any) -> int:
    """Leaves in a criteria tree, the unit of Zoho's 25-criteria limit."""
    if not isinstance(criteria, Mapping):
        return 0
    if "group" in criteria:
        return sum(count_criteria(c) for c in criteria.get("group") or [])
    return 1


def shape_criteria(criteria: Any, version: ApiVersion) -> Any:
    """Render leaves as v2 `api_name` or v2.1+ `field: {api_name}`, accepting either as input."""
    if not isinstance(criteria, Mapping):
        return criteria
    if "group" in criteria:
        return {
            "group_operator": str(criteria.get("group_operator", "and")).lower(),
            "group": [shape_criteria(c, version) for c in criteria["group"]],
        }
    api_name = criteria.get("api_name") or (criteria.get("field") or {}).get("api_name")
    leaf: dict[str, Any] = {
        "comparator": criteria.get("comparator"),
        "value": criteria.get("value"),
    }
    if version.module_as_object:
        return {"field": {"api_name": api_name}, **leaf}
    return {"api_name": api_name, **leaf}


def build_query(
    version: ApiVersion,
    module: str,
    fields: Sequence[str] | None,
    criteria: Any,
    page: int,
) -> dict[str, Any]:
    """The create-job body for one page, shaped for `version`."""
    query: dict[str, Any] = {"module": {"api_name": module} if version.module_as_object else module}
    if fields:
        query["fields"] = list(fields)
    if criteria:
        query["criteria"] = shape_criteria(criteria, version)
    query["page"] = page
    return {"query": query}
