"""A Bulk Read result file on disk, turned into typed records.

Two concerns live here because they meet at one file handle: opening the downloaded ZIP without
trusting it (one expected member, sane sizes, streamed), and reading its CSV into dicts that
carry exactly the stream's schema. Bad input inside the CSV (a broken row, a byte that is not
UTF-8, a value that is not of its column's type, a column added in Zoho since discovery) costs
that cell or row, is counted and logged, and never the rest of the stream.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import csv
import functools
import itertools
import logging
import multiprocessing
import multiprocessing.resource_tracker
import multiprocessing.util
import operator
import os
import signal
import sys
import tempfile
import threading
import uuid
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Generic, ParamSpec, TypeVar

import msgspec

from tap_zoho_bulk.results.conversions import (
    CONVERSION_ERRORS,
    ColumnConverter,
    column_converter,
    converter_for,
    utc_datetime_converter,
)
from tap_zoho_bulk.singer.schema import ID_PROPERTY

DEFAULT_MAX_COMPRESSION_RATIO = 200
DEFAULT_MAX_MEMBER_SIZE = 16 * 1024**3

#: Problems of one kind logged in full per file before only the end-of-file summary counts them.
_DETAILED_REPORTS = 5
_SHOWN_VALUE_LENGTH = 40
_VERIFY_READ_SIZE = 1024 * 1024
# Small enough that a batch's cells stay in the CPU cache through every columnar pass and the
# encoding (measured: 32 rows is about 1.5 times as fast as 1,024; see benchmarks/README.md).
_BATCH_ROWS = 32
#: CSV read and parsed at a time, here or in a worker: large enough that per-piece costs
#: (two trips between processes for a worker) vanish; 256 KiB to 2 MiB measured alike.
_CHUNK_SIZE = 256 * 1024
_BOM = codecs.BOM_UTF8
T = TypeVar("T")
P = ParamSpec("P")
#: A line appended to each piece but the last: read back as a row of its own exactly when the
#: piece ends between records. Noncharacters never appear in Zoho's exports.
_END_OF_CHUNK = "\ufdd0tap-zoho-bulk: end of chunk\ufdd0"
_END_LINE = (_END_OF_CHUNK + "\n").encode()


class ArchiveError(Exception):
    """The result file cannot be read as a Bulk Read result."""


class CorruptArchiveError(ArchiveError):
    """Not a ZIP, truncated, or damaged: downloading the result again may help."""


class UnsafeArchiveError(ArchiveError):
    """A ZIP that is not shaped like a Bulk Read result and is refused unread."""


@contextlib.contextmanager
def open_result_member(
    path: str | Path,
    expected_member: str,
    *,
    max_compression_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO,
    max_member_size: int = DEFAULT_MAX_MEMBER_SIZE,
) -> Iterator[IO[bytes]]:
    """Open the one CSV member of a result ZIP as a binary stream, after checking the archive.

    A result holds exactly `{job_id}.csv`; anything else (extra members, path-like names,
    encryption, exotic compression, a declared size or compression ratio beyond the limits)
    raises UnsafeArchiveError before a byte is inflated. zipfile stops inflating at the declared
    size, so the limits bound what reading can produce. Damage found while reading inside the
    `with` block surfaces as CorruptArchiveError.
    """
    if _is_path_like(expected_member):
        raise ValueError(f"expected_member must be a plain file name, got {expected_member!r}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise CorruptArchiveError(f"{path} is not a readable ZIP archive: {exc}") from exc
    with archive:
        info = _checked_member(archive, expected_member, max_compression_ratio, max_member_size)
        try:
            with archive.open(info) as member:
                yield member
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise CorruptArchiveError(
                f"{path}: member {info.filename!r} is damaged: {exc}"
            ) from exc


def verify_result(path: str | Path, expected_member: str) -> None:
    """Check a downloaded result whole, before any of its records is emitted.

    Opening checks the central directory (a truncated download has none) and the member's
    shape; reading the member to its end checks its CRC, so damage inside the compressed data
    shows here too. Inflating is C code that releases the GIL, so a download thread can afford
    it while the main thread parses the previous page. Raises CorruptArchiveError (worth
    downloading again) or UnsafeArchiveError (refused).
    """
    with open_result_member(path, expected_member) as member:
        while member.read(_VERIFY_READ_SIZE):
            pass


def _is_path_like(name: str) -> bool:
    return (
        not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or (len(name) > 1 and name[1] == ":")
    )


def _checked_member(
    archive: zipfile.ZipFile, expected: str, max_ratio: float, max_size: int
) -> zipfile.ZipInfo:
    members = archive.infolist()
    names = [info.filename for info in members]
    if len(members) != 1:
        raise UnsafeArchiveError(
            f"a Bulk Read result holds exactly one member ({expected!r}); "
            f"this one holds {len(members)}: {_shown(names)}"
        )
    (info,) = members
    if _is_path_like(info.filename):
        raise UnsafeArchiveError(f"refusing path-like ZIP member name {info.filename!r}")
    if info.filename != expected:
        raise UnsafeArchiveError(f"unexpected ZIP member {info.filename!r}; expected {expected!r}")
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(f"ZIP member {expected!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsafeArchiveError(
            f"ZIP member {expected!r} uses unsupported compression method {info.compress_type}"
        )
    if info.file_size > max_size:
        raise UnsafeArchiveError(
            f"ZIP member {expected!r} declares {info.file_size} bytes, over the limit of {max_size}"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > max_ratio:
        raise UnsafeArchiveError(
            f"ZIP member {expected!r} would inflate {ratio:.0f}-fold, over the limit of "
            f"{max_ratio:g} (a decompression bomb?)"
        )
    return info


def result_chunks(member: IO[bytes]) -> Iterator[bytes]:
    """The member's CSV in pieces of about `_CHUNK_SIZE` bytes ending with a newline, BOM dropped.

    A piece ends where a record most likely ends: at the last newline with an even count of
    quotes before it in the piece. That count can mislead only on malformed CSV (a quote inside
    an unquoted field); readers check every piece's end anyway and carry an unfinished record
    over to the next piece, so the cut decides speed, never records. Pieces are cut at newline
    bytes, which no UTF-8 sequence contains, so each decodes alone.
    """
    pending = b""
    started = False
    while True:
        block = member.read(_CHUNK_SIZE)
        data = pending + block
        if not started:
            if len(data) < len(_BOM) and block:
                pending = data
                continue
            started = True
            data = data.removeprefix(_BOM)
        if not block:
            if data:
                yield data
            return
        cut = _record_end(data)
        if cut:
            yield data[:cut]
        pending = data[cut:]


def _record_end(data: bytes) -> int:
    """Past the last newline outside quotes by the quote count, else past the last newline."""
    last = data.rfind(b"\n")
    position, quotes = last, data.count(b'"', 0, last)
    while quotes % 2:
        previous = data.rfind(b"\n", 0, position)
        if previous < 0:
            return last + 1
        quotes -= data.count(b'"', previous, position)
        position = previous
    return position + 1


class _InvalidUtf8:
    """Bytes of invalid UTF-8 met by this process's readers, each replaced by U+FFFD.

    Counting happens in a codecs error handler, which runs only on bad bytes; a reader takes
    the difference around a piece. Readers decode in one thread of a process at a time.
    """

    count = 0

    @classmethod
    def replace(cls, error: UnicodeError) -> tuple[str, int]:
        if not isinstance(error, UnicodeDecodeError):
            raise error
        cls.count += error.end - error.start
        return "\N{REPLACEMENT CHARACTER}", error.end

    @classmethod
    @contextlib.contextmanager
    def counted_into(cls, report: _Report) -> Iterator[None]:
        """Add the bytes replaced while the block runs (and decodes) to `report`."""
        before = cls.count
        try:
            yield
        finally:
            report.bad_bytes += cls.count - before


codecs.register_error("tap_zoho_bulk.replace", _InvalidUtf8.replace)
_decode_line = operator.methodcaller("decode", "utf-8", "tap_zoho_bulk.replace")


def _lines(data: bytes, *, last: bool) -> list[bytes]:
    """A piece's lines as csv needs them: split where a text file in universal-newline mode
    splits (CR, LF, CRLF: bytes that no UTF-8 sequence contains), ends kept; then the
    end-of-piece line, unless the piece is the file's remainder."""
    lines = data.splitlines(keepends=True)
    if not last:
        lines.append(_END_LINE)
    return lines


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


@dataclass(frozen=True)
class Batch:
    """A few dozen records as typed columns, in the schema's property order.

    Columns are what reading produces; records are built only in the form a consumer needs:
    dicts for singer-sdk's loop, or msgspec structs, which take a sixth of the work of dicts to
    build and encode to the same JSON object.
    """

    keys: tuple[str, ...]
    columns: list[Sequence[Any]]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, key: str) -> Sequence[Any]:
        return self.columns[self.keys.index(key)]

    def select(self, keep: Sequence[bool]) -> Batch:
        """The records whose `keep` is true."""
        return Batch(self.keys, [list(itertools.compress(c, keep)) for c in self.columns])

    def records(self) -> list[dict[str, Any]]:
        rows = zip(*self.columns, strict=True)
        return list(map(dict, map(zip, itertools.repeat(self.keys), rows)))

    def structs(self) -> list[msgspec.Struct]:
        """The records as structs that encode exactly as `records()` do."""
        return list(map(_record_struct(self.keys), *self.columns))


@functools.cache
def _record_struct(keys: tuple[str, ...]) -> type[msgspec.Struct]:
    # Not tracked by the garbage collector: records hold no reference cycles.
    return msgspec.defstruct(
        "Record",
        [(f"f{i}", Any) for i in range(len(keys))],
        rename={f"f{i}": key for i, key in enumerate(keys)},
        gc=False,
    )


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


_SKIPPED = "skipped"
_BAD_VALUE = "bad value"


@dataclass
class _Report:
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

    def note(self, kind: str, message: str, *args: Any) -> None:
        if self.noted[kind] < _DETAILED_REPORTS:
            self.noted[kind] += 1
            self.details.append((kind, self.rows, message, args))


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
            head = _Report(source)
            lines = _lines(first, last=False)
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
        head: _Report,
        consume: Callable[[Iterator[Batch]], T],
        pool: ParsePool,
    ) -> Iterator[T]:
        """The pieces after the header, read in the pool, with the file's problems logged."""
        source = head.source
        report = _Report(source)
        try:
            layout = self._layout(header, source)
            report.id_index = layout.id_index
            self._absorb(report, head)
            yield from self._mapped(pieces, layout, report, consume, pool)
        finally:
            self._summarise(report)

    def _mapped(
        self,
        pieces: Iterator[bytes],
        layout: _Layout,
        report: _Report,
        consume: Callable[[Iterator[Batch]], T],
        pool: ParsePool,
    ) -> Iterator[T]:
        """Keep pieces in flight in the pool and hand results out in order.

        A piece that cut a record short (known only once it is read) hands its tail back; the
        following piece, already in flight from the wrong start, is then read again with that
        tail in front, as a sequential reader would have read it.
        """
        in_flight: collections.deque[tuple[bytes, Future[tuple[T, bytes, _Report]]]] = (
            collections.deque()
        )

        def submit(data: bytes, *, last: bool) -> Future[tuple[T, bytes, _Report]]:
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
        report = _Report(source)
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
            self._summarise(report)

    def _read_piece(
        self, data: bytes, layout: _Layout | None, report: _Report, *, last: bool
    ) -> Generator[Batch, None, tuple[_Layout | None, bytes]]:
        """One piece read here, the header first if not read yet; returns the layout and the
        bytes of a record the piece cut short."""
        piece = _Report(report.source, report.id_index)
        lines = _lines(data, last=last)
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
        self, lines: list[bytes], report: _Report, *, last: bool
    ) -> tuple[list[str] | None, int]:
        """The header row and the index of the line after it; no row if the piece cuts the
        header short."""
        rows = csv.reader(map(_decode_line, lines))
        with _InvalidUtf8.counted_into(report):
            header = self._next_rows(rows, 1, report)
        if not header or (not last and _END_OF_CHUNK in "".join(header[0][-1:])):
            return None, 0
        return header[0], rows.line_num

    def _piece(
        self, lines: list[bytes], layout: _Layout, report: _Report, *, last: bool
    ) -> Generator[Batch, None, bytes]:
        """The converted batches of one piece of CSV; returns the bytes of a record it cut short.

        A piece but the file's remainder ends with an end-of-piece line, read back as a row of
        its own exactly when the piece ends between records. Otherwise the piece's last batch,
        held back until then, is handed back to be read again in front of the next piece, as a
        sequential reader would have read it.
        """
        rows = csv.reader(map(_decode_line, lines))
        held: list[list[str]] = []
        held_at = 0
        with _InvalidUtf8.counted_into(report):
            while True:
                position = rows.line_num
                batch = self._next_rows(rows, _BATCH_ROWS, report)
                if not batch:
                    break
                if held:
                    yield from self._finished(held, layout, report)
                held, held_at = batch, position
            if not last:
                if held[-1:] != [[_END_OF_CHUNK]]:
                    carry = b"".join(lines[held_at:-1])
                    report.bad_bytes -= _invalid_utf8_in(carry)  # counted where read again
                    return carry
                held.pop()
            yield from self._finished(held, layout, report)
            return b""

    def _finished(
        self, batch: list[list[str]], layout: _Layout, report: _Report
    ) -> Iterator[Batch]:
        complete = self._complete_rows(batch, layout, report)
        if complete:
            yield self._convert(complete, layout, report)

    def _next_rows(self, rows: Iterator[list[str]], count: int, report: _Report) -> list[list[str]]:
        """Up to `count` parsed rows; a stretch the csv module cannot parse is skipped."""
        batch: list[list[str]] = []
        while True:
            try:
                # extend() keeps the rows parsed before an error, so none is lost to it.
                batch.extend(itertools.islice(rows, count - len(batch)))
            except csv.Error as exc:
                self._skipped(report, "malformed CSV (%s)", str(exc))
                continue
            return batch

    def _complete_rows(
        self, batch: list[list[str]], layout: _Layout, report: _Report
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
                self._skipped(
                    report,
                    "%d columns instead of %d (Id %s)",
                    len(row),
                    layout.width,
                    _record_id(row, layout.id_index),
                )
        return complete

    def _skipped(self, report: _Report, reason: str, *args: Any) -> None:
        report.rows += 1
        report.skipped += 1
        report.note(_SKIPPED, reason, *args)

    def _convert(self, batch: list[list[str]], layout: _Layout, report: _Report) -> Batch:
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
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: _Report
    ) -> Sequence[Any]:
        try:
            # Most typed columns (times, amounts) hold distinct values: convert them straight.
            return self._columns[typed.column](column)
        except CONVERSION_ERRORS:
            return self._convert_carefully(column, typed, batch, report)

    def _convert_carefully(
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: _Report
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
        report: _Report,
        typed: _Typed,
        text: str,
        column: Sequence[str],
        rows: Sequence[list[str]],
    ) -> None:
        """Count the cells of `column` holding `text`; log the first few with a record's Id."""
        report.bad_values[typed.column] += column.count(text)
        report.note(
            _BAD_VALUE,
            "%r in column %r of Id %s (%s) is not a valid %s; emitting null.",
            _shown(text),
            typed.column,
            _record_id(rows[column.index(text)], report.id_index),
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

    def _absorb(self, report: _Report, piece: _Report) -> None:
        """Add a piece's counts to its file's, logging its details while few have been."""
        for kind, row, message, args in piece.details:
            if report.noted[kind] < _DETAILED_REPORTS:
                report.noted[kind] += 1
                if kind == _SKIPPED:
                    where = (report.rows + row, report.source)
                    self._log.warning(
                        "%s: skipping record %d of %s: " + message, self._stream, *where, *args
                    )
                else:
                    self._log.warning("%s: " + message, self._stream, *args)
        report.rows += piece.rows
        report.skipped += piece.skipped
        report.bad_bytes += piece.bad_bytes
        report.bad_values.update(piece.bad_values)
        self.stats.rows_read += piece.rows
        self.stats.rows_skipped += piece.skipped
        self.stats.bad_values += piece.bad_values.total()
        self.stats.bad_bytes += piece.bad_bytes

    def _summarise(self, report: _Report) -> None:
        if report.bad_bytes:
            self._log.warning(
                "%s: %s had %d bytes of invalid UTF-8, read as U+FFFD.",
                self._stream,
                report.source,
                report.bad_bytes,
            )
        if report.skipped > _DETAILED_REPORTS:
            self._log.warning(
                "%s: skipped %d malformed records of %s in all.",
                self._stream,
                report.skipped,
                report.source,
            )
        bad_values = report.bad_values.total()
        if bad_values > _DETAILED_REPORTS:
            by_column = ", ".join(f"{c}: {n}" for c, n in report.bad_values.most_common())
            self._log.warning(
                "%s: %d values of %s were not of their column's type and became null (%s).",
                self._stream,
                bad_values,
                report.source,
                by_column,
            )


#: What a terminal's ^C and an orchestrator's SIGTERM send to the tap's whole process group. The
#: tap's own process decides how the run ends and then shuts its workers down, so they leave
#: these alone; SIGTERM only where a worker can tell who sent it (`_start_worker`).
_GROUP_SIGNALS = (
    {signal.SIGINT, signal.SIGTERM} if hasattr(signal, "sigwaitinfo") else {signal.SIGINT}
)
#: Room for an AF_UNIX socket's path, its ending NUL included: Linux's sun_path, and a cautious
#: guess elsewhere (both what Python 3.13's multiprocessing assumes).
_SUN_PATH_MAX = 108 if sys.platform == "linux" else 92
#: multiprocessing's own temporary folder, as it names it (8 random characters, from tempfile).
_MULTIPROCESSING_TEMP_DIR = "pymp-12345678"
#: What the fork server's socket path adds to that folder: its name, named alike, and the NUL.
_SOCKET_NAME = len("/listener-12345678") + 1
#: Where multiprocessing keeps its temporary folder when TMPDIR is too deep for the socket, in
#: the order Python 3.13's multiprocessing tries them (mkdtemp makes a private folder in one).
_SHORT_TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")  # noqa: S108


class ParsePool(ProcessPoolExecutor):
    """Worker processes for `RecordReader.map_pieces`.

    Forked from a fork server that has imported only what reading needs, where there is one:
    not from the tap's process, whose download threads may hold locks at any moment, and not
    spawned, which would import the tap's main module (and singer-sdk) again in every worker.
    Workers ignore Ctrl-C and an orchestrator's SIGTERM (the tap's own process decides how to
    stop, and stops them) and exit when the tap's process is gone, however it ended:
    multiprocessing's own pipes would keep a killed tap's workers, fork server and resource
    tracker waiting for each other forever.
    """

    def __init__(self, processes: int) -> None:
        self._forks = "forkserver" in multiprocessing.get_all_start_methods()
        if self._forks:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["tap_zoho_bulk.singer.emit"])
        else:
            context = multiprocessing.get_context("spawn")  # type: ignore[assignment]
        # Only this process holds the writing end: workers read end-of-file once it is gone.
        tap_alive, self._tap_alive = context.Pipe(duplex=False)
        super().__init__(
            processes,
            mp_context=context,
            initializer=_start_worker,
            initargs=(tap_alive, os.getpid()),
        )
        #: Pieces kept in flight: two per worker, so that none waits for the next.
        self.ahead = 2 * processes

    def can_start_workers(self) -> bool:
        """False where the fork server would have no socket (see `_fork_server_can_listen`):
        the caller reads in its own process instead."""
        return not self._forks or _fork_server_can_listen()

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Submit with the process group's signals blocked in this thread.

        A submit starts the fork server (or spawns a worker) when it needs one, and the mask is
        inherited across fork and exec: a signal to the group then waits, instead of killing
        the fork server with a traceback while it imports what workers need, before
        multiprocessing makes it ignore ^C (and then the tap, which was waiting for it). The
        fork server keeps the mask (it ends with the tap anyway) and hands it to the workers
        it forks, until `_start_worker` settles the signals. Multiprocessing starts its
        resource tracker the same way (bpo-33613), but unblocks both signals afterwards: it is
        started first, so that it does not unblock them here.
        """
        if not hasattr(signal, "pthread_sigmask"):  # Windows: no process group to signal
            return super().submit(fn, *args, **kwargs)
        multiprocessing.resource_tracker.ensure_running()
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        self._tap_alive.close()


@functools.cache
def _fork_server_can_listen() -> bool:
    """Whether the fork server can bind its socket, moving multiprocessing's temporary folder
    out of a TMPDIR too deep for that; once per process, as multiprocessing keeps that folder.

    The socket is made in that folder, under TMPDIR, and its path must fit sun_path: with a
    deep TMPDIR the pool would fail as it starts its first worker, after Zoho was paid for
    the job. Python 3.12 and later fall back to /tmp and the like themselves; 3.11 does not.
    Where no such folder is writable either, large pages are read in the tap's process.
    """
    deep = tempfile.gettempdir()
    if _socket_fits_in(os.path.join(deep, _MULTIPROCESSING_TEMP_DIR)) or any(
        _multiprocessing_temp_dir_in(folder) for folder in _SHORT_TEMP_DIRS
    ):
        return True
    logging.getLogger(__name__).warning(
        "Reading large result files in the tap's own process: the worker processes' socket "
        "cannot be made in TMPDIR (%s is too long for a socket path) nor in any of %s.",
        deep,
        ", ".join(_SHORT_TEMP_DIRS),
    )
    return False


def _multiprocessing_temp_dir_in(folder: str) -> bool:
    """Whether multiprocessing's temporary folder, which it keeps for the process, made in
    `folder` (if it has none yet) leaves room for a socket's name; False if not writable."""
    # multiprocessing makes it in tempfile's default folder and offers no other way to choose:
    # change that default just for the call. The tap's other threads make no temporary files
    # meanwhile (downloads go into the folder made for them at the start), so the tap's own
    # files stay under TMPDIR.
    default, tempfile.tempdir = tempfile.tempdir, folder
    try:
        made = multiprocessing.util.get_temp_dir()
    except OSError:
        return False
    finally:
        tempfile.tempdir = default
    return _socket_fits_in(made)


def _socket_fits_in(folder: str) -> bool:
    return len(os.fsencode(folder)) + _SOCKET_NAME <= _SUN_PATH_MAX


def _start_worker(tap_alive: Connection, tap: int) -> None:
    """Leave the process group's signals to the tap (see `_GROUP_SIGNALS`) and end with it.

    A worker dying of ^C would print a KeyboardInterrupt traceback; one dying of the group's
    SIGTERM would break the pool under the piece the tap is finishing. SIGTERM from the tap's
    own process (the pool terminates its other workers once one died) still ends a worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def exit_with_the_tap() -> None:
        with contextlib.suppress(EOFError, OSError):
            tap_alive.recv_bytes()
        os._exit(1)

    def exit_when_the_tap_terminates() -> None:
        while signal.sigwaitinfo({signal.SIGTERM}).si_pid != tap:
            pass
        os._exit(1)

    if signal.SIGTERM in _GROUP_SIGNALS:
        # Blocked in every thread (those started here inherit it; the fork server's workers
        # have it blocked already) for the one that waits for it: a thread that did not block
        # it could take it, and the worker would die of it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=exit_when_the_tap_terminates, name="sigterm", daemon=True).start()
    threading.Thread(target=exit_with_the_tap, name="tap-alive", daemon=True).start()


#: A worker process's readers, by the key of the reader they stand in for.
_worker_readers: dict[str, RecordReader] = {}


def _read_piece_in_worker(task: _PieceTask[T]) -> tuple[T, bytes, _Report]:
    """In a worker process: read one piece, consume its batches, report what went wrong."""
    spec = task.reader
    reader = _worker_readers.get(spec.key)
    if reader is None:
        reader = _worker_readers[spec.key] = RecordReader(
            {"properties": spec.properties},
            stream_name=spec.stream,
            multi_select_separator=spec.multi_select_separator,
        )
    report = _Report(task.source, task.layout.id_index)
    carry = b""

    def batches() -> Iterator[Batch]:
        nonlocal carry
        lines = _lines(task.data, last=task.last)
        carry = yield from reader._piece(lines, task.layout, report, last=task.last)

    return task.consume(batches()), carry, report


def _invalid_utf8_in(data: bytes) -> int:
    """Bytes of invalid UTF-8 in `data`, leaving the process's count as it was."""
    before = _InvalidUtf8.count
    data.decode("utf-8", "tap_zoho_bulk.replace")
    found, _InvalidUtf8.count = _InvalidUtf8.count - before, before
    return found


def _record_id(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row) or not row[index]:
        return "unknown"
    return _shown(row[index])


def _shown(value: object) -> str:
    text = str(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        return text[:_SHOWN_VALUE_LENGTH] + "…"
    return text
