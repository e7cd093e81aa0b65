"""Small windows through COQL: a window's records for a few credits and no Bulk Read job.

A Bulk Read job costs 50 credits and waits in Zoho's queue; a COQL call answers in about a second
for 1 credit (up to 200 records), 2 (1,000) or 3 (2,000), and reaches at most 100,000 records
of a query by offset (zoho-beyond-bulk-read.md, "COQL"). So a window is first asked for through
COQL, 200 records: an empty or small window ends there; one larger than `reach` records goes to
Bulk Read; one in between is read in pages of 2,000. Reading 20,000 records so costs at most
1 + 1 + 10 x 3 = 32 credits, below one Bulk Read job (50 and a few more for its polls and
download), and Zoho answers in seconds instead of minutes.

Each COQL page is written as the CSV file Bulk Read would have made of the same records (the
same columns and the same text for every value), so the tap reads, types and emits it through
exactly the same path: a record is the same whichever way it came.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.wire import CoqlAnswer, decode

#: Records of the first call, which tells an empty or small window from a large one.
FIRST_LIMIT = 200
#: Records per later call, the most Zoho serves.
PAGE_LIMIT = 2_000
#: The furthest Zoho pages a query by offset.
MAX_REACH = 100_000
#: Where auto mode stops reading a window through COQL: 20,000 records cost at most 32 credits.
AUTO_REACH = 20_000
#: Fields per SELECT and formula fields per SELECT Zoho accepts.
MAX_FIELDS = 50
MAX_FORMULA_FIELDS = 5


@dataclass(frozen=True)
class CoqlPlan:
    """How a window can be read through COQL."""

    key: str  # the replication key the window is on
    columns: tuple[str, ...]  # the CSV columns, `Id` first, as Bulk Read would write them
    reach: int  # the most records to read through COQL before Bulk Read is cheaper
    separator: str  # how Bulk Read's CSV joins the values of a multi-select picklist


@dataclass(frozen=True)
class Window:
    """One module's window and where its COQL pages go."""

    client: ZohoClient
    version: ApiVersion
    module: str
    stream: str
    plan: CoqlPlan
    bounds: tuple[str | None, str]


def read_window(window: Window, deliver: Callable[[list[dict[str, Any]], int], None]) -> bool:
    """Read the window through COQL, handing each page's records to `deliver` (with the page
    number); False, with nothing delivered, when it holds more than `reach` records."""
    first, more = _page(window, 0, FIRST_LIMIT)
    if more:
        beyond, _ = _page(window, window.plan.reach, 1)
        if beyond:
            return False
    if first:
        deliver(first, 1)
    offset, page = len(first), 1
    while more:
        records, more = _page(window, offset, PAGE_LIMIT)
        if not records:
            break
        page += 1
        deliver(records, page)
        offset += len(records)
    return True


def _page(window: Window, offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    select = query(window.module, window.plan, window.bounds, offset, limit)
    return read(window.client, window.version, select, limit=limit, stream=window.stream)


def credits_for(limit: int) -> int:
    """What a COQL call costs by its LIMIT (Zoho's credit table)."""
    return 1 if limit <= 200 else 2 if limit <= 1_000 else 3


def query(
    module: str, plan: CoqlPlan, window: tuple[str | None, str], offset: int, limit: int
) -> str:
    """The SELECT of one page of a window, ordered so that offsets are stable."""
    start, end = window
    where = f"{plan.key} < '{end}'"
    if start is not None:
        where = f"({plan.key} >= '{start}' and {where})"
    fields = ", ".join("id" if c == "Id" else c for c in plan.columns)
    return (
        f"select {fields} from {module} where {where} "
        f"order by {plan.key} asc, id asc limit {offset}, {limit}"
    )


def read(
    client: ZohoClient,
    version: ApiVersion,
    select: str,
    *,
    limit: int,
    stream: str,
) -> tuple[list[dict[str, Any]], bool]:
    """One COQL call: its records, and whether Zoho has more."""
    response = client.request(
        "POST",
        f"/crm/{version.name}/coql",
        kind="coql",
        stream=stream,
        json={"select_query": select},
        credits=credits_for(limit),
    )
    if response.status_code == 204 or not response.content:
        return [], False
    answer = decode(
        response.content,
        CoqlAnswer,
        status=response.status_code,
        what="Zoho's COQL answer",
        exact_decimals=True,
    )
    records = answer.data or []
    more = bool(answer.info and answer.info.more_records)
    return records, more


def write_page(
    path: Path,
    member: str,
    columns: Sequence[str],
    records: Sequence[Mapping[str, Any]],
    separator: str,
) -> None:
    """The records as the ZIP of one CSV Bulk Read would have made of them."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(_value(record, column), separator) for column in columns])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, text.getvalue())


def _value(record: Mapping[str, Any], column: str) -> Any:
    if column == "Id":
        return record.get("id")
    return record.get(column)


def _cell(value: Any, separator: str) -> str:
    """A JSON value as Bulk Read's CSV has it: lookups by id, lists joined, booleans in words."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _cell(value.get("id"), separator)
    if isinstance(value, list):
        return separator.join(_cell(item, separator) for item in value)
    return str(value)
