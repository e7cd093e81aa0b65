"""A result CSV read into records that carry exactly the stream's schema, fast.

Bad input inside the CSV (a broken row, a byte that is not UTF-8, a value that is not of its
column's type, a column added in Zoho since discovery) costs that cell or row, is counted and
logged, and never the rest of the stream. A file is read here or, a piece at a time, in worker
processes; what a worker needs of the reader is here too, so that the reader's internals stay
its own.
"""

from __future__ import annotations

import collections
import csv
import itertools
import logging
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

from tap_zoho_bulk.results.batch import ID_PROPERTY, Batch
from tap_zoho_bulk.results.conversions import (
    CONVERSION_ERRORS,
    ColumnConverter,
    column_converter,
    converter_for,
    utc_datetime_converter,
)
from tap_zoho_bulk.results.pieces import (
    END_OF_CHUNK,
    InvalidUtf8,
    decode_line,
    invalid_utf8_in,
    piece_lines,
    result_chunks,
)
from tap_zoho_bulk.results.pool import ParsePool
from tap_zoho_bulk.results.report import ReadStats, Report, record_id, shown

# Small enough that a batch's cells stay in the CPU cache through every columnar pass and the
# encoding (measured: 32 rows is about 1.5 times as fast as 1,024; see benchmarks/README.md).
_BATCH_ROWS = 32
T = TypeVar("T")


@dataclass(frozen=True)
class _Typed:
    """A column whose text becomes another JSON type (its converter is the reader's own)."""

    index: int
    column: str
    type_name: str
    #: Whether values are lists, which records must not share: each record gets a copy.
    lists: bool


@dataclass(frozen=True)
class _Layout:
    """How the columns of one file's header become the stream's records."""

    width: int
    keys: tuple[str, ...]
    #: The column index of each key, None for a property the file lacks.
    sources: list[int | None]
    typed: list[_Typed]
    #: Emitted columns whose text is the value, blank aside.
    texts: list[int]
    id_index: int | None


@dataclass(frozen=True)
class _ReaderSpec:
    """What a worker process needs to build the same reader: its schema and settings."""

    key: str
    properties: dict[str, Any]
    stream: str
    multi_select_separator: str


@dataclass(frozen=True)
class _PieceTask(Generic[T]):
    """One piece of a result file for a worker process to read and hand to `consume`."""

    reader: _ReaderSpec
    layout: _Layout
    source: str
    data: bytes
    last: bool
    consume: Callable[[Iterator[Batch]], T]


class RecordReader:
    """Turns result CSVs into records carrying exactly the schema's properties, in its order.

    Built once per stream: converters come from the schema alone. `known_columns` names every
    column discovery knows for the module, selected or not, so that unselected columns are
    dropped silently while a column discovery has never seen (a field added in Zoho since) is
    dropped with one warning asking for a new discovery.

    Rows are converted a batch at a time, column by column, and records are assembled by C
    iterators: per record, no Python code runs at all, which is what keeps typing close to the
    cost of bare CSV parsing. A file is read in pieces (see `result_chunks`), in this process
    or, through `map_pieces`, in worker processes; the file's problems are logged here either
    way.
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        known_columns: Iterable[str] = (),
        *,
        stream_name: str = "",
        multi_select_separator: str = ";",
        logger: logging.Logger | None = None,
    ) -> None:
        self._properties: dict[str, Any] = dict(schema.get("properties") or {})
        if not self._properties:
            raise ValueError("the schema has no properties to read")
        self._known = set(known_columns) | set(self._properties)
        self._stream = stream_name or "stream"
        self._log = logger or logging.getLogger(__name__)
        self._spec = _ReaderSpec(
            uuid.uuid4().hex, self._properties, self._stream, multi_select_separator
        )
        datetimes = utc_datetime_converter()
        self._converters = {
            name: converter
            for name, prop in self._properties.items()
            if isinstance(prop, Mapping)
            and (
                converter := converter_for(
                    prop, datetimes=datetimes, multi_select_separator=multi_select_separator
                )
            )
        }
        self._columns: dict[str, ColumnConverter] = {
            name: column_converter(convert) for name, (convert, _) in self._converters.items()
        }
        self._warned: set[str] = set()
        self.stats = ReadStats()

    def records(self, member: IO[bytes], source: str = "result file") -> Iterator[dict[str, Any]]:
        """Records of one result CSV, read as a stream; `source` names the file in logs.

        Lazy: iterate it while `member` is open, i.e. inside `open_result_member`'s block.
        """
        batches = self._read(result_chunks(member), source)
        try:
            for batch in batches:
                yield from batch.records()
        finally:
            batches.close()

    def batches(self, member: IO[bytes], source: str = "result file") -> Iterator[Batch]:
        """The same records, a few dozen at a time as typed columns, for consumers in bulk."""
        return self._read(result_chunks(member), source)

    def map_pieces(
        self,
        member: IO[bytes],
        consume: Callable[[Iterator[Batch]], T],
        pool: ParsePool | None,
        source: str = "result file",
    ) -> Iterator[T]:
        """`consume` applied to the batches of each piece of the file, results in file order.

        With a pool, pieces are read and consumed in its worker processes, a few ahead of the
        result being handed out, so `consume` must be picklable and its result small next to
        the records (encoded lines, say). Without one, or for a file whose header does not fit
        in a piece, `consume` runs here on one batch at a time. Problems are logged here, as
        `records` logs them.
        """
        pieces = result_chunks(member)
        if pool is not None and pool.can_start_workers():
            first = next(pieces, b"")
            head = Report(source)
            lines = piece_lines(first, last=False)
            header, after = self._header(lines, head, last=False)
            if header is not None:
                header_bytes = sum(map(len, lines[:after]))
                yield from self._mapped_file(
                    itertools.chain((first[header_bytes:],), pieces),
                    header,
                    head,
                    consume,
                    pool,
                )
                return
            pieces = itertools.chain((first,), pieces)  # no header in it: read it all here
        yield from (consume(iter((batch,))) for batch in self._read(pieces, source))

    def _mapped_file(
        self,
        pieces: Iterator[bytes],
        header: list[str],
        head: Report,
        consume: Callable[[Iterator[Batch]], T],
        pool: ParsePool,
    ) -> Iterator[T]:
        """The pieces after the header, read in the pool, with the file's problems logged."""
        source = head.source
        report = Report(source)
        try:
            layout = self._layout(header, source)
            report.id_index = layout.id_index
            self._absorb(report, head)
            yield from self._mapped(pieces, layout, report, consume, pool)
        finally:
            report.summarise(self._log, self._stream)

    def _mapped(
        self,
        pieces: Iterator[bytes],
        layout: _Layout,
        report: Report,
        consume: Callable[[Iterator[Batch]], T],
        pool: ParsePool,
    ) -> Iterator[T]:
        """Keep pieces in flight in the pool and hand results out in order.

        A piece that cut a record short (known only once it is read) hands its tail back; the
        following piece, already in flight from the wrong start, is then read again with that
        tail in front, as a sequential reader would have read it.
        """
        in_flight: collections.deque[tuple[bytes, Future[tuple[T, bytes, Report]]]] = (
            collections.deque()
        )

        def submit(data: bytes, *, last: bool) -> Future[tuple[T, bytes, Report]]:
            task = _PieceTask(self._spec, layout, report.source, data, last, consume)
            return pool.submit(_read_piece_in_worker, task)

        try:
            while True:
                while len(in_flight) < pool.ahead and (data := next(pieces, None)) is not None:
                    in_flight.append((data, submit(data, last=False)))
                if not in_flight:
                    return
                _, future = in_flight.popleft()
                result, carry, piece = future.result()
                self._absorb(report, piece)
                if carry:
                    if in_flight:
                        following, wrong = in_flight.popleft()
                        wrong.cancel()
                        data = carry + following
                        in_flight.appendleft((data, submit(data, last=False)))
                    else:
                        in_flight.appendleft((carry, submit(carry, last=True)))
                yield result
        finally:
            for _, future in in_flight:
                future.cancel()

    def _read(self, pieces: Iterator[bytes], source: str) -> Generator[Batch, None, None]:
        """The batches of a file's pieces, read in this process."""
        report = Report(source)
        layout: _Layout | None = None
        carry = b""
        try:
            for chunk in pieces:
                layout, carry = yield from self._read_piece(
                    carry + chunk, layout, report, last=False
                )
            if carry or layout is None:
                # The file ends inside a quoted field (or has no header): read the rest as is.
                layout, _ = yield from self._read_piece(carry, layout, report, last=True)
            if layout is None:
                self._log.warning("%s: %s is empty, not even a header.", self._stream, source)
        finally:
            report.summarise(self._log, self._stream)

    def _read_piece(
        self, data: bytes, layout: _Layout | None, report: Report, *, last: bool
    ) -> Generator[Batch, None, tuple[_Layout | None, bytes]]:
        """One piece read here, the header first if not read yet; returns the layout and the
        bytes of a record the piece cut short."""
        piece = Report(report.source, report.id_index)
        lines = piece_lines(data, last=last)
        try:
            if layout is None:
                header, after = self._header(lines, piece, last=last)
                if header is None:
                    piece.bad_bytes = 0  # all of it is read again
                    return None, data
                layout = self._layout(header, report.source)
                report.id_index = piece.id_index = layout.id_index
                lines = lines[after:]
            carry = yield from self._piece(lines, layout, piece, last=last)
        finally:
            self._absorb(report, piece)
        return layout, carry

    def _header(
        self, lines: list[bytes], report: Report, *, last: bool
    ) -> tuple[list[str] | None, int]:
        """The header row and the index of the line after it; no row if the piece cuts the
        header short."""
        rows = csv.reader(map(decode_line, lines))
        with InvalidUtf8.counted_into(report):
            header = self._next_rows(rows, 1, report)
        if not header or (not last and END_OF_CHUNK in "".join(header[0][-1:])):
            return None, 0
        return header[0], rows.line_num

    def _piece(
        self, lines: list[bytes], layout: _Layout, report: Report, *, last: bool
    ) -> Generator[Batch, None, bytes]:
        """The converted batches of one piece of CSV; returns the bytes of a record it cut short.

        A piece but the file's remainder ends with an end-of-piece line, read back as a row of
        its own exactly when the piece ends between records. Otherwise the piece's last batch,
        held back until then, is handed back to be read again in front of the next piece, as a
        sequential reader would have read it.
        """
        rows = csv.reader(map(decode_line, lines))
        held: list[list[str]] = []
        held_at = 0
        with InvalidUtf8.counted_into(report):
            while True:
                position = rows.line_num
                batch = self._next_rows(rows, _BATCH_ROWS, report)
                if not batch:
                    break
                if held:
                    yield from self._finished(held, layout, report)
                held, held_at = batch, position
            if not last:
                if held[-1:] != [[END_OF_CHUNK]]:
                    carry = b"".join(lines[held_at:-1])
                    report.bad_bytes -= invalid_utf8_in(carry)  # counted where read again
                    return carry
                held.pop()
            yield from self._finished(held, layout, report)
            return b""

    def _finished(self, batch: list[list[str]], layout: _Layout, report: Report) -> Iterator[Batch]:
        complete = self._complete_rows(batch, layout, report)
        if complete:
            yield self._convert(complete, layout, report)

    def _next_rows(self, rows: Iterator[list[str]], count: int, report: Report) -> list[list[str]]:
        """Up to `count` parsed rows; a stretch the csv module cannot parse is skipped."""
        batch: list[list[str]] = []
        while True:
            try:
                # extend() keeps the rows parsed before an error, so none is lost to it.
                batch.extend(itertools.islice(rows, count - len(batch)))
            except csv.Error as exc:
                report.skip("malformed CSV (%s)", str(exc))
                continue
            return batch

    def _complete_rows(
        self, batch: list[list[str]], layout: _Layout, report: Report
    ) -> list[list[str]]:
        widths = set(map(len, batch))
        if widths == {layout.width}:
            report.rows += len(batch)
            return batch
        complete = []
        for row in batch:
            if len(row) == layout.width:
                report.rows += 1
                complete.append(row)
            elif row:  # A blank line is not a row.
                report.skip(
                    "%d columns instead of %d (Id %s)",
                    len(row),
                    layout.width,
                    record_id(row, layout.id_index),
                )
        return complete

    def _convert(self, batch: list[list[str]], layout: _Layout, report: Report) -> Batch:
        texts = list(zip(*batch, strict=True))
        columns: list[Sequence[Any]] = list(texts)
        for typed in layout.typed:
            columns[typed.index] = self._convert_column(texts[typed.index], typed, batch, report)
        for index in layout.texts:
            if "" in texts[index]:
                columns[index] = [value or None for value in texts[index]]
        nulls = [None] * len(batch)
        return Batch(
            layout.keys, [nulls if index is None else columns[index] for index in layout.sources]
        )

    def _convert_column(
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: Report
    ) -> Sequence[Any]:
        try:
            # Most typed columns (times, amounts) hold distinct values: convert them straight.
            return self._columns[typed.column](column)
        except CONVERSION_ERRORS:
            return self._convert_carefully(column, typed, batch, report)

    def _convert_carefully(
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: Report
    ) -> list[Any]:
        """A column holding a bad value: convert each distinct text alone, nulling the bad."""
        converted = dict.fromkeys(column)  # Each distinct text once; blank stays None.
        for text in converted:
            if text:
                try:
                    converted[text] = self._converters[typed.column][0](text)
                except CONVERSION_ERRORS:
                    self._bad_value(report, typed, text, column, batch)
        values = map(converted.__getitem__, column)
        if typed.lists:
            return [None if value is None else list(value) for value in values]
        return list(values)

    def _bad_value(
        self,
        report: Report,
        typed: _Typed,
        text: str,
        column: Sequence[str],
        rows: Sequence[list[str]],
    ) -> None:
        """Count the cells of `column` holding `text`; log the first few with a record's Id."""
        report.bad_value(
            typed.column,
            column.count(text),
            "%r in column %r of Id %s (%s) is not a valid %s; emitting null.",
            shown(text),
            typed.column,
            record_id(rows[column.index(text)], report.id_index),
            report.source,
            typed.type_name,
        )

    def _layout(self, header: list[str], source: str) -> _Layout:
        columns = [ID_PROPERTY if name in ("id", ID_PROPERTY) else name for name in header]
        position: dict[str, int] = {}
        for index, name in enumerate(columns):
            if name in position:
                self._warn_once(
                    f"duplicate:{name}",
                    "%s: %s repeats column %r; using its first occurrence.",
                    self._stream,
                    source,
                    name,
                )
            elif name in self._known:
                position[name] = index
            elif self._warn_once(
                f"unknown:{name}",
                "%s: the result has column %r, which the catalog does not know (a field added "
                "in Zoho since discovery?); dropping it. Re-run discovery to include it.",
                self._stream,
                name,
            ):
                self.stats.unknown_columns.append(name)
        for name in self._properties:
            if name not in position:
                self._warn_once(
                    f"missing:{name}",
                    "%s: %s has no column %r; emitting null for it.",
                    self._stream,
                    source,
                    name,
                )
        typed = [
            _Typed(position[name], name, type_name, lists=type_name == "array")
            for name, (_, type_name) in self._converters.items()
            if name in position
        ]
        return _Layout(
            width=len(columns),
            keys=tuple(self._properties),
            sources=[position.get(name) for name in self._properties],
            typed=typed,
            texts=[
                position[name]
                for name in self._properties
                if name in position and name not in self._converters
            ],
            id_index=position.get(ID_PROPERTY),
        )

    def _warn_once(self, key: str, message: str, *args: Any) -> bool:
        """Log `message` the first time `key` comes up for this reader; say whether it did."""
        if key in self._warned:
            return False
        self._warned.add(key)
        self._log.warning(message, *args)
        return True

    def _absorb(self, report: Report, piece: Report) -> None:
        report.absorb(piece, self._log, self._stream)
        self.stats.add(piece)


#: A worker process's readers, by the key of the reader they stand in for.
_worker_readers: dict[str, RecordReader] = {}


def _read_piece_in_worker(task: _PieceTask[T]) -> tuple[T, bytes, Report]:
    """In a worker process: read one piece, consume its batches, report what went wrong."""
    spec = task.reader
    reader = _worker_readers.get(spec.key)
    if reader is None:
        reader = _worker_readers[spec.key] = RecordReader(
            {"properties": spec.properties},
            stream_name=spec.stream,
            multi_select_separator=spec.multi_select_separator,
        )
    report = Report(task.source, task.layout.id_index)
    carry = b""

    def batches() -> Iterator[Batch]:
        nonlocal carry
        lines = piece_lines(task.data, last=task.last)
        carry = yield from reader._piece(lines, task.layout, report, last=task.last)

    return task.consume(batches()), carry, report
