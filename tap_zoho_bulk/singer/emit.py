"""RECORD lines built where records are read, a batch at a time, in this process or a worker.

A module's records go out without singer-sdk's per-record loop when nothing in that loop would
change them (see `ModuleStream`). What replaces it lives here, free of the SDK and picklable,
so that a worker process reading a piece of a result file can hand back finished lines: the
message envelope, the filter for records already emitted at the bookmark's second, and the
encoder that joins them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from tap_zoho_bulk.results.batch import ID_PROPERTY, Batch

# Encodes like singer-sdk's msgspec writer: Decimal as a JSON number, exact.
_LINES = msgspec.json.Encoder(decimal_format="number")


#: A RECORD message as singer-sdk's writer encodes it: "type" first, then the fields in order,
#: "version" and "time_extracted" left out when there is none.
_RecordMessage = msgspec.defstruct(
    "RecordMessage",
    [
        ("stream", str),
        ("record", Any),
        ("version", int | None, None),
        ("time_extracted", datetime | None, None),
    ],
    tag_field="type",
    tag="RECORD",
    omit_defaults=True,
    gc=False,
)


@dataclass(frozen=True)
class Envelope:
    """What each RECORD line of a stream says besides its record."""

    stream: str
    time_extracted: datetime | None
    #: The table version of a full-table sync that emits ACTIVATE_VERSION, else None.
    version: int | None = None

    def lines(self, batch: Batch) -> bytes:
        """RECORD lines for a batch, encoded together."""
        messages = map(
            _RecordMessage,
            itertools.repeat(self.stream),
            batch.structs(),
            itertools.repeat(self.version),
            itertools.repeat(self.time_extracted),
        )
        return _LINES.encode_lines(list(messages))


@dataclass
class Ties:
    """Records sharing the bookmark's second: skip those already emitted, remember the new max.

    Zoho times have second precision, so windows start at the bookmark inclusively and the ids
    emitted at that exact second are kept in state. A copy of this filter can run wherever a
    piece of a file is read; `absorb` merges what each copy saw.
    """

    key: str | None
    bookmark: str | None
    emitted: frozenset[str]
    max_value: str | None = None
    max_ids: set[str] = field(default_factory=set)

    @classmethod
    def from_state(cls, state: dict[str, Any], key: str | None, ids_key: str) -> Ties:
        same_key = state.get("replication_key") == key
        bookmark = state.get("replication_key_value") if same_key else None
        return cls(key, bookmark, frozenset(state.get(ids_key, [])) if bookmark else frozenset())

    def fresh(self) -> Ties:
        """A filter with the same bookmark that has seen nothing yet."""
        return Ties(self.key, self.bookmark, self.emitted)

    def filter(self, batches: Iterable[Batch]) -> Iterator[Batch]:
        """Drop records already emitted at the bookmark; track the largest key and its ids."""
        key = self.key
        if key is None:
            yield from batches
            return
        bookmark, emitted = self.bookmark, self.emitted
        for read in batches:
            batch, keys = read, read.column(key)
            if bookmark is not None and bookmark in keys:
                ids = batch.column(ID_PROPERTY)
                batch = batch.select(
                    [v != bookmark or i not in emitted for v, i in zip(keys, ids, strict=True)]
                )
                keys = batch.column(key)
            present = [value for value in keys if value is not None]
            if present:
                top = max(present)
                if self.max_value is None or top >= self.max_value:
                    ids = batch.column(ID_PROPERTY)
                    self.absorb(top, {i for i, v in zip(ids, keys, strict=True) if v == top})
            yield batch

    def absorb(self, top: str | None, ids: set[str]) -> None:
        """Take in the largest key (and its ids) seen by another copy of this filter."""
        if top is None or (self.max_value is not None and top < self.max_value):
            return
        if top == self.max_value:
            self.max_ids |= ids
        else:
            self.max_value, self.max_ids = top, set(ids)

    def save(self, state: dict[str, Any], ids_key: str) -> None:
        if self.key is None:
            return
        if self.max_value is None or (self.bookmark and self.max_value < self.bookmark):
            return
        ids = self.max_ids | self.emitted if self.max_value == self.bookmark else self.max_ids
        state[ids_key] = sorted(ids)


@dataclass(frozen=True)
class Encoded:
    """A piece's RECORD lines, how many there are, and the largest key its filter saw."""

    lines: bytes
    count: int
    max_value: str | None
    max_ids: set[str]


@dataclass(frozen=True)
class RecordLines:
    """Filters and encodes the batches of one piece: what a worker process hands back."""

    envelope: Envelope
    ties: Ties

    def __call__(self, batches: Iterator[Batch]) -> Encoded:
        ties = self.ties.fresh()
        parts, count = [], 0
        for batch in ties.filter(batches):
            if batch:
                parts.append(self.envelope.lines(batch))
                count += len(batch)
        return Encoded(b"".join(parts), count, ties.max_value, ties.max_ids)
