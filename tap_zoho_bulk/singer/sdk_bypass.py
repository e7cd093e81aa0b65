"""Where module streams step around singer-sdk: the one module that relies on its internals.

Written against singer-sdk 0.54.9 (`singer_sdk/streams/core.py`). For each record,
`Stream._sync_records` prunes deselected properties, conforms types, applies the stream maps,
builds a `RecordMessage` for the writer and advances the bookmark. A module's records are built
from the selected schema with JSON-native values, so pruning and conforming would change
nothing; when no stream map, flattening, dry-run record limit or batch config applies either,
`DirectRecords` writes them a batch (or a worker's piece) at a time as finished RECORD lines
(`emit.Envelope`: the bytes singer-sdk's msgspec writer writes, with the table version it
would give them). Together that about triples throughput (benchmarks/).

What it replaces or uses of singer-sdk beyond its public hooks (mypy checks each name against
the installed singer-sdk; every overridden method is marked `@override`):

- `Stream._generate_record_messages`, overridden: RECORD messages without pruning and
  conforming, on singer-sdk's own path (maps, flattening, dry runs).
- `Stream._increment_stream_state`, overridden: nothing per record; the bookmark advances once
  per page (`advance_bookmark`, which calls singer-sdk's own).
- `Stream.get_record_counter`, overridden to keep the counter, so that directly written records
  are counted too.
- `Stream._stream_version`: the table version of a full-table sync with ACTIVATE_VERSION, which
  singer-sdk sets in `sync()` before reading records and puts on each RECORD.
- `Stream._write_state_message` and `state_manager.is_flushed`: STATE written mid-stream, and
  marked due after lines singer-sdk did not write itself.
- `"progress_markers"`: singer-sdk's key for a stream's not-yet-final bookmark, started empty
  here so that singer-sdk adds neither its "not resumable" note nor its WARNING.

Upgrading singer-sdk: compare `Stream._sync_records`, `_generate_record_messages` and
`RecordMessage.to_dict` with the above, then run tests/tap/test_sdk_paths.py, which checks that
both paths write the same bytes under every setting singer-sdk honours there.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, metrics
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding.simple import RecordMessage
from typing_extensions import override

from tap_zoho_bulk.singer.emit import Encoded, Envelope, RecordLines, Ties
from tap_zoho_bulk.singer.writer import write_all

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

#: Whether module streams may write records directly at all; tests turn it off to compare.
ENABLED = True

#: singer-sdk's key for a stream's not-yet-final bookmark (an unsorted stream's progress).
PROGRESS_KEY = "progress_markers"


class DirectRecords(Stream):
    """A stream whose records may be written without singer-sdk's per-record loop.

    Its `get_records` asks `_writes_directly()` once; when true it hands finished lines to
    `write_lines` (built by `record_lines`) and yields nothing, otherwise it yields records
    for singer-sdk to write. Either way each record's `time_extracted` is `time_extracted`,
    set by the stream as it reads.
    """

    #: The `time_extracted` of the records being written (their job's completion).
    time_extracted: datetime | None = None
    _counter: metrics.Counter | None = None

    def _writes_directly(self) -> bool:
        """Whether records may bypass singer-sdk's per-record loop and be written a batch at a
        time: only when nothing in that loop would change them. Any stream map or flattening
        (inline maps then still work, through singer-sdk's path), a dry-run record limit or a
        batch config (the tap does not advertise BATCH, but singer-sdk honours one) make it
        step aside. A table version does not: direct lines carry it as singer-sdk would.
        """
        maps = self.stream_maps
        return (
            ENABLED
            and self.ABORT_AT_RECORD_COUNT is None
            and self.get_batch_config(self.config) is None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == self.name
        )

    def record_lines(self, ties: Ties) -> RecordLines:
        """What turns read batches into this stream's RECORD lines (picklable, for workers)."""
        envelope = Envelope(self.name, self.time_extracted, self._stream_version)
        return RecordLines(envelope, ties)

    def write_lines(self, piece: Encoded) -> None:
        """Write a piece's RECORD lines, count them, and mark STATE as due after them."""
        write_all(piece.lines)
        if self._counter is not None:  # set by singer-sdk before it asks for records
            self._counter.increment(piece.count)
        self.state_manager.is_flushed = False

    def advance_bookmark(self, value: str) -> None:
        """Take the largest replication key value of what was emitted into the not-yet-final
        bookmark, which singer-sdk promotes when the stream completes.

        singer-sdk starts that bookmark with a note, "Progress is not resumable if
        interrupted", and a WARNING saying so; both are wrong here (the jobs in STATE make a
        run resumable), so the bookmark is started without them.
        """
        if self.replication_key:
            self.stream_state.setdefault(PROGRESS_KEY, {})
            super()._increment_stream_state({self.replication_key: value})

    def forget_progress(self) -> None:
        """Drop singer-sdk's not-yet-final bookmark, so that it is not promoted at the end."""
        self.stream_state.pop(PROGRESS_KEY, None)

    def write_state(self) -> None:
        """Write STATE now, whether or not singer-sdk thinks it has changed."""
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def get_record_counter(self, **kwargs: Any) -> metrics.Counter:
        """singer-sdk's counter, kept so that records written directly are counted too."""
        self._counter = super().get_record_counter(**kwargs)
        return self._counter

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        """RECORD messages without singer-sdk's per-record pruning and conforming (records
        carry the selected properties only, with JSON-native values). Stream maps apply."""
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=self.time_extracted,
                )

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Nothing per record: the bookmark advances once per page (`advance_bookmark`)."""
