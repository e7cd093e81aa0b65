"""The `deleted_records` stream: which records of the synced modules Zoho has deleted.

Bulk Read never returns a deleted record, so without this a warehouse keeps every record Zoho
has since deleted. One record per deletion, keyed on (module, id), with a bookmark on
`deleted_time` per module (a singer-sdk partition each). Deletions are not written onto the
module streams as `_sdc_deleted_at` markers: on MeltanoLabs target-postgres such a record
replaces the whole row with NULLs (zoho-beyond-bulk-read.md, "Deleted records"); the README
shows how to apply this stream in the warehouse instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th
from typing_extensions import override

from tap_zoho_bulk.singer.summary import TalliedRecords
from tap_zoho_bulk.utc import parse_utc, utc_text
from tap_zoho_bulk.zoho.deletions import deleted_records
from tap_zoho_bulk.zoho.wire import DeletedRecord, id_text

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_zoho_bulk.singer.run import Run
    from tap_zoho_bulk.singer.tap import TapZohoBulk
    from tap_zoho_bulk.zoho.client import ZohoClient
    from tap_zoho_bulk.zoho.criteria import ApiVersion

DELETED_RECORDS = "deleted_records"

#: Zoho's times have whole seconds and `If-Modified-Since` may be exclusive: each module's
#: next call asks again from a second before its bookmark, so that a deletion in the bookmark's
#: own second, after the call, is not missed (it is listed twice at worst, on one key).
OVERLAP = timedelta(seconds=1)

SCHEMA = th.PropertiesList(
    th.Property("module", th.StringType, required=True, description="Module API name."),
    th.Property("id", th.StringType, required=True, description="Id of the deleted record."),
    th.Property(
        "type",
        th.StringType,
        description="recycle (in Zoho's recycle bin, restorable) or permanent.",
    ),
    th.Property("deleted_time", th.DateTimeType, description="When it was deleted, in UTC."),
    th.Property("deleted_by_id", th.StringType, description="Id of the user who deleted it."),
    th.Property("deleted_by_name", th.StringType, description="Name of that user."),
    th.Property("display_name", th.StringType, description="The record's name as Zoho shows it."),
    th.Property("created_by_id", th.StringType, description="Id of the user who created it."),
).to_dict()


class DeletedRecordsStream(TalliedRecords):
    """Each synced module's deletions since its bookmark, oldest first."""

    name = DELETED_RECORDS
    replication_key = "deleted_time"
    # Each module's deletions are read whole and sorted before any is written.
    is_sorted = True

    def __init__(
        self,
        tap: TapZohoBulk,
        run: Run,
        *,
        client: ZohoClient,
        version: ApiVersion,
        modules: Callable[[], list[str]],
    ) -> None:
        super().__init__(tap, schema=SCHEMA, name=DELETED_RECORDS)
        self.primary_keys = ["module", "id"]
        self._run = run
        self._client = client
        self._version = version
        self._modules = modules

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One per module stream synced in this run."""
        return [{"module": module} for module in self._modules()]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        if not context:  # no module stream is synced: singer-sdk asks once, without one
            return []
        module = str(context["module"])
        bookmark = self.get_starting_timestamp(context)
        since = bookmark - OVERLAP if bookmark is not None else None
        found = deleted_records(self._client, self._version, module, since=since, stream=self.name)
        records = [_record(module, deleted) for deleted in found]
        records.sort(key=lambda record: record["deleted_time"] or "")
        self.logger.info("'%s': %d deletion(s) listed by Zoho.", module, len(records))
        return records


def _record(module: str, deleted: DeletedRecord) -> dict[str, Any]:
    moment = parse_utc(deleted.deleted_time) if deleted.deleted_time else None
    by = deleted.deleted_by
    return {
        "module": module,
        "id": id_text(deleted.id),
        "type": deleted.type,
        "deleted_time": utc_text(moment, whole_seconds=True) if moment else None,
        "deleted_by_id": id_text(by.id) if by else None,
        "deleted_by_name": by.name if by else None,
        "display_name": deleted.display_name,
        "created_by_id": id_text(deleted.created_by.id) if deleted.created_by else None,
    }
