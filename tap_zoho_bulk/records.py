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
import io
import itertools
import logging
import zipfile
import zlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tap_zoho_bulk.conversions import (
    CONVERSION_ERRORS,
    Converter,
    converter_for,
    utc_datetime_converter,
)
from tap_zoho_bulk.schema import ID_PROPERTY

DEFAULT_MAX_COMPRESSION_RATIO = 200
DEFAULT_MAX_MEMBER_SIZE = 16 * 1024**3

#: Problems of one kind logged in full per file before only the end-of-file summary counts them.
_DETAILED_REPORTS = 5
_SHOWN_VALUE_LENGTH = 40
_VERIFY_READ_SIZE = 1024 * 1024
# Small enough that a batch's cells stay in the CPU cache through every columnar pass and the
# encoding (measured: 32 rows is about 1.5 times as fast as 1,024; see benchmarks/README.md).
_BATCH_ROWS = 32
#: CSV read, decoded and parsed at a time: large enough that per-piece costs vanish.
_CHUNK_SIZE = 256 * 1024
_BOM = codecs.BOM_UTF8
#: A line appended to each piece but the last: read back as a row of its own exactly when the
#: piece ends between records. Noncharacters never appear in Zoho's exports.
_END_OF_CHUNK = "\ufdd0tap-zoho-bulk: end of chunk\ufdd0"


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


def result_chunks(member: IO[bytes], size: int | None = None) -> Iterator[bytes]:
    """The member's CSV in pieces of about `size` bytes, each ending with a newline, BOM dropped.

    A piece ends where a record most likely ends: at the last newline with an even count of
    quotes before it in the piece. That count can mislead only on malformed CSV (a quote inside
    an unquoted field); readers check every piece's end anyway and carry an unfinished record
    over to the next piece, so the cut decides speed, never records. Pieces are cut at newline
    bytes, which no UTF-8 sequence contains, so each decodes alone.
    """
    size = size or _CHUNK_SIZE
    pending = b""
    started = False
    while True:
        block = member.read(size)
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


def decode_chunk(chunk: bytes) -> tuple[str, int]:
    """The text of a piece, invalid UTF-8 replaced by U+FFFD, and the count of bytes replaced."""
    try:
        return chunk.decode(), 0
    except UnicodeDecodeError:
        pass
    parts: list[str] = []
    bad = 0
    while True:
        try:
            parts.append(chunk.decode())
        except UnicodeDecodeError as exc:
            parts += (chunk[: exc.start].decode(), "\N{REPLACEMENT CHARACTER}")
            bad += exc.end - exc.start
            chunk = chunk[exc.end :]
            continue
        return "".join(parts), bad


@dataclass
class ReadStats:
    """Running totals over every file a RecordReader has read, for the stream to report.

    Rows count as read when their batch is parsed, up to one batch ahead of the records handed
    out; once a file's records are exhausted the totals are exact.
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
class _Typed:
    """A column whose text becomes another JSON type."""

    index: int
    convert: Converter
    column: str
    type_name: str
    #: Whether values are lists, which records must not share: each record gets a copy.
    lists: bool


@dataclass(frozen=True)
class _Layout:
    """How the columns of one file's header become the stream's records."""

    width: int
    keys: list[str]
    #: The column index of each key, None for a property the file lacks.
    sources: list[int | None]
    typed: list[_Typed]
    #: Emitted columns whose text is the value, blank aside.
    texts: list[int]
    id_index: int | None


@dataclass
class _FileReport:
    """What went wrong in one file, counted so each kind is logged a few times, then summed."""

    source: str
    #: Where the file keeps record ids, to name the records that problems were found in.
    id_index: int | None = None
    rows: int = 0
    skipped: int = 0
    bad_bytes: int = 0
    bad_values: collections.Counter[str] = field(default_factory=collections.Counter)


class RecordReader:
    """Turns result CSVs into records carrying exactly the schema's properties, in its order.

    Built once per stream: converters come from the schema alone. `known_columns` names every
    column discovery knows for the module, selected or not, so that unselected columns are
    dropped silently while a column discovery has never seen (a field added in Zoho since) is
    dropped with one warning asking for a new discovery.

    Rows are converted a batch at a time, column by column: each distinct value of a typed
    column is converted once per batch, and records are assembled by C iterators. Per record,
    no Python code runs at all, which is what keeps typing close to the cost of bare CSV parsing.
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
        self._warned: set[str] = set()
        self.stats = ReadStats()

    def records(self, member: IO[bytes], source: str = "result file") -> Iterator[dict[str, Any]]:
        """Records of one result CSV, read as a stream; `source` names the file in logs.

        Lazy: iterate it while `member` is open, i.e. inside `open_result_member`'s block.
        """
        return itertools.chain.from_iterable(self._batches(member, source))

    def batches(
        self, member: IO[bytes], source: str = "result file"
    ) -> Iterator[list[dict[str, Any]]]:
        """The same records, a few dozen at a time, for consumers that write in bulk."""
        return (list(batch) for batch in self._batches(member, source))

    def _batches(self, member: IO[bytes], source: str) -> Iterator[Iterator[dict[str, Any]]]:
        report = _FileReport(source)
        layout: _Layout | None = None
        carry = ""
        try:
            for chunk in result_chunks(member):
                text, bad_bytes = decode_chunk(chunk)
                report.bad_bytes += bad_bytes
                layout, carry = yield from self._piece(carry + text, layout, report, last=False)
            if carry or layout is None:
                # The file ends inside a quoted field (or has no header): read the rest as is.
                layout, _ = yield from self._piece(carry, layout, report, last=True)
            if layout is None:
                self._log.warning("%s: %s is empty, not even a header.", self._stream, source)
        finally:
            self.stats.bad_bytes += report.bad_bytes
            self._summarise(report)

    def _piece(
        self, text: str, layout: _Layout | None, report: _FileReport, *, last: bool
    ) -> Generator[Iterator[dict[str, Any]], None, tuple[_Layout | None, str]]:
        """Batches of one piece of CSV, the header first if not read yet; returns the layout
        and the text of a record the piece cuts short.

        Each piece but the file's remainder gets an end-of-piece line, read back as a row of
        its own exactly when the piece ends between records. Otherwise the piece's last batch
        is handed back to be read again in front of the next piece, as a sequential reader
        would have read it.
        """
        lines = io.StringIO(text if last else text + _END_OF_CHUNK + "\n", newline="")
        rows = csv.reader(lines)
        if layout is None:
            header = self._next_rows(rows, 1, report)
            if not header or (not last and _END_OF_CHUNK in "".join(header[0][-1:])):
                return None, text
            layout = self._layout(header[0], report.source)
            report.id_index = layout.id_index
        held: list[list[str]] = []
        held_at = lines.tell()
        while True:
            position = lines.tell()
            batch = self._next_rows(rows, _BATCH_ROWS, report)
            if not batch:
                break
            if held:
                yield from self._finished(held, layout, report)
            held, held_at = batch, position
        if not last:
            if held[-1:] != [[_END_OF_CHUNK]]:
                return layout, text[held_at:]
            held.pop()
        yield from self._finished(held, layout, report)
        return layout, ""

    def _finished(
        self, batch: list[list[str]], layout: _Layout, report: _FileReport
    ) -> Iterator[Iterator[dict[str, Any]]]:
        complete = self._complete_rows(batch, layout, report)
        if complete:
            yield self._convert(complete, layout, report)

    def _next_rows(
        self, rows: Iterator[list[str]], count: int, report: _FileReport
    ) -> list[list[str]]:
        """Up to `count` parsed rows; a stretch the csv module cannot parse is skipped."""
        batch: list[list[str]] = []
        while True:
            try:
                # extend() keeps the rows parsed before an error, so none is lost to it.
                batch.extend(itertools.islice(rows, count - len(batch)))
            except csv.Error as exc:
                self._skipped(report, "malformed CSV (%s)", exc)
                continue
            return batch

    def _complete_rows(
        self, batch: list[list[str]], layout: _Layout, report: _FileReport
    ) -> list[list[str]]:
        widths = set(map(len, batch))
        if widths == {layout.width}:
            report.rows += len(batch)
            self.stats.rows_read += len(batch)
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
        self.stats.rows_read += len(complete)
        return complete

    def _skipped(self, report: _FileReport, reason: str, *args: Any) -> None:
        report.rows += 1
        report.skipped += 1
        self.stats.rows_read += 1
        self.stats.rows_skipped += 1
        if report.skipped <= _DETAILED_REPORTS:
            self._log.warning(
                "%s: skipping record %d of %s: " + reason,
                self._stream,
                report.rows,
                report.source,
                *args,
            )

    def _convert(
        self, batch: list[list[str]], layout: _Layout, report: _FileReport
    ) -> Iterator[dict[str, Any]]:
        texts = list(zip(*batch, strict=True))
        columns: list[Iterable[Any]] = list(texts)
        for typed in layout.typed:
            columns[typed.index] = self._convert_column(texts[typed.index], typed, batch, report)
        for index in layout.texts:
            if "" in texts[index]:
                columns[index] = [value or None for value in texts[index]]
        emitted = [
            itertools.repeat(None, len(batch)) if index is None else columns[index]
            for index in layout.sources
        ]
        return map(dict, map(zip, itertools.repeat(layout.keys), zip(*emitted, strict=True)))

    def _convert_column(
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: _FileReport
    ) -> Iterable[Any]:
        convert = typed.convert
        try:
            # Most typed columns (times, amounts) hold distinct values: convert them straight.
            return [convert(text) if text else None for text in column]
        except CONVERSION_ERRORS:
            return self._convert_carefully(column, typed, batch, report)

    def _convert_carefully(
        self, column: Sequence[str], typed: _Typed, batch: list[list[str]], report: _FileReport
    ) -> Iterable[Any]:
        """A column holding a bad value: convert each distinct text alone, nulling the bad."""
        converted = dict.fromkeys(column)  # Each distinct text once; blank stays None.
        for text in converted:
            if text:
                try:
                    converted[text] = typed.convert(text)
                except CONVERSION_ERRORS:
                    self._bad_value(report, typed, text, column, batch)
        values = map(converted.__getitem__, column)
        if typed.lists:
            return [None if value is None else list(value) for value in values]
        return values

    def _bad_value(
        self,
        report: _FileReport,
        typed: _Typed,
        text: str,
        column: Sequence[str],
        rows: Sequence[list[str]],
    ) -> None:
        """Count the cells of `column` holding `text`; log the first few with a record's Id."""
        cells = column.count(text)
        report.bad_values[typed.column] += cells
        self.stats.bad_values += cells
        if report.bad_values.total() - cells < _DETAILED_REPORTS:
            row = rows[column.index(text)]
            self._log.warning(
                "%s: %r in column %r of Id %s (%s) is not a valid %s; emitting null.",
                self._stream,
                _shown(text),
                typed.column,
                _record_id(row, report.id_index),
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
            _Typed(position[name], convert, name, type_name, lists=type_name == "array")
            for name, (convert, type_name) in self._converters.items()
            if name in position
        ]
        return _Layout(
            width=len(columns),
            keys=list(self._properties),
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

    def _summarise(self, report: _FileReport) -> None:
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


def _record_id(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row) or not row[index]:
        return "unknown"
    return _shown(row[index])


def _shown(value: object) -> str:
    text = str(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        return text[:_SHOWN_VALUE_LENGTH] + "…"
    return text
