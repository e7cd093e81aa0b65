"""Zoho's record of deletions: GET /crm/{version}/{module}/deleted, page after page.

Bulk Read never returns a deleted record, so a copy built from it keeps every record Zoho has
since deleted unless something says which ones went. Zoho lists them per module, both those in
the recycle bin (`recycle`) and those deleted for good (`permanent`), newest first, 200 a page,
and with `If-Modified-Since` only those deleted after that instant. Each call costs 2 credits
(Zoho's credit table, "Get IDs of deleted records").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from tap_zoho_bulk.errors import ZohoAPIError
from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.wire import DeletedAnswer, DeletedRecord

#: The largest page Zoho serves (and the default).
PER_PAGE = 200
#: Zoho pages deleted records by number; past this many pages something is wrong.
MAX_PAGES = 10_000


def deleted_records(
    client: ZohoClient,
    version: ApiVersion,
    module: str,
    *,
    since: datetime | None,
    stream: str,
) -> Iterator[DeletedRecord]:
    """Every deletion of `module` Zoho lists (after `since`, when given), page by page."""
    headers = {"If-Modified-Since": since.isoformat()} if since is not None else None
    for page in range(1, MAX_PAGES + 1):
        answer = client.get_as_optional(
            DeletedAnswer,
            f"/crm/{version.name}/{module}/deleted",
            kind="deleted",
            stream=stream,
            params={"type": "all", "page": str(page), "per_page": str(PER_PAGE)},
            headers=headers,
        )
        if answer is None:  # 204: nothing (more) to list
            return
        yield from answer.data or []
        if not (answer.info and answer.info.more_records and answer.data):
            return
    msg = f"Zoho listed more than {MAX_PAGES} pages of deleted '{module}' records"
    raise ZohoAPIError(200, "TOO_MANY_PAGES", msg)
