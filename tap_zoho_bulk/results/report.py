"""What went wrong in a result file, counted, and told without flooding the log.

Bad input costs a cell or a row, never the stream, so it has to be visible some other way: each
kind of problem is logged in full a few times per file, then only counted and summed up once
the file is read, and the counts add up to totals that the stream reports.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import Any

#: Problems of one kind logged in full per file before only the end-of-file summary counts them.
_DETAILED_REPORTS = 5
_SHOWN_VALUE_LENGTH = 40
_SKIPPED = "skipped"
_BAD_VALUE = "bad value"


@dataclass
class ReadStats:
    """Running totals over every file a RecordReader has read, for the stream to report.

    A piece's rows count once the piece is read, or its reading is stopped; once a file's
    records are exhausted the totals are exact.
    """

    rows_read: int = 0
    rows_skipped: int = 0
    bad_values: int = 0
    bad_bytes: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.rows_read - self.rows_skipped

    def add(self, piece: Report) -> None:
        self.rows_read += piece.rows
        self.rows_skipped += piece.skipped
        self.bad_values += piece.bad_values.total()
        self.bad_bytes += piece.bad_bytes


@dataclass
class Report:
    """What went wrong in a file, or in a piece of it read elsewhere, counted per kind.

    A piece's report keeps the first few problems of each kind in detail, rows numbered from
    the piece's start; the file's report logs them (numbered from the file's start) until it
    has logged a few of each kind, and sums the rest up at the end of the file.
    """

    source: str
    #: Where the file keeps record ids, to name the records that problems were found in.
    id_index: int | None = None
    rows: int = 0
    skipped: int = 0
    bad_bytes: int = 0
    bad_values: collections.Counter[str] = field(default_factory=collections.Counter)
    #: (kind, row, message, arguments) of the first problems of each kind.
    details: list[tuple[str, int, str, tuple[Any, ...]]] = field(default_factory=list)
    noted: collections.Counter[str] = field(default_factory=collections.Counter)

    def skip(self, reason: str, *args: Any) -> None:
        """A row that cannot be read still counts as read, so that row numbers stay true."""
        self.rows += 1
        self.skipped += 1
        self._note(_SKIPPED, reason, *args)

    def bad_value(self, column: str, cells: int, message: str, *args: Any) -> None:
        """`cells` values of `column` that became null; `message` tells of the first."""
        self.bad_values[column] += cells
        self._note(_BAD_VALUE, message, *args)

    def absorb(self, piece: Report, log: logging.Logger, stream: str) -> None:
        """Add a piece's counts to its file's, logging its details while few have been."""
        for kind, row, message, args in piece.details:
            if self.noted[kind] < _DETAILED_REPORTS:
                self.noted[kind] += 1
                if kind == _SKIPPED:
                    where = (self.rows + row, self.source)
                    log.warning("%s: skipping record %d of %s: " + message, stream, *where, *args)
                else:
                    log.warning("%s: " + message, stream, *args)
        self.rows += piece.rows
        self.skipped += piece.skipped
        self.bad_bytes += piece.bad_bytes
        self.bad_values.update(piece.bad_values)

    def summarise(self, log: logging.Logger, stream: str) -> None:
        """Sum up, once the file is read, what was too frequent to log one by one."""
        if self.bad_bytes:
            log.warning(
                "%s: %s had %d bytes of invalid UTF-8, read as U+FFFD.",
                stream,
                self.source,
                self.bad_bytes,
            )
        if self.skipped > _DETAILED_REPORTS:
            log.warning(
                "%s: skipped %d malformed records of %s in all.",
                stream,
                self.skipped,
                self.source,
            )
        bad_values = self.bad_values.total()
        if bad_values > _DETAILED_REPORTS:
            by_column = ", ".join(f"{c}: {n}" for c, n in self.bad_values.most_common())
            log.warning(
                "%s: %d values of %s were not of their column's type and became null (%s).",
                stream,
                bad_values,
                self.source,
                by_column,
            )

    def _note(self, kind: str, message: str, *args: Any) -> None:
        if self.noted[kind] < _DETAILED_REPORTS:
            self.noted[kind] += 1
            self.details.append((kind, self.rows, message, args))


def record_id(row: list[str], index: int | None) -> str:
    """The Id of a row, to name it in a message, whatever shape the row is in."""
    if index is None or index >= len(row) or not row[index]:
        return "unknown"
    return shown(row[index])


def shown(value: object) -> str:
    """`value` cut short for a message: values and names come from the file, of any length."""
    text = str(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        return text[:_SHOWN_VALUE_LENGTH] + "…"
    return text
