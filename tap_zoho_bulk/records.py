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
import logging
import operator
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
_READ_SIZE = 64 * 1024
_BOM = codecs.BOM_UTF8
_REPLACEMENT = "\N{REPLACEMENT CHARACTER}".encode()


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


class _Utf8Repair(io.BufferedIOBase):
    """Byte stream that drops a leading BOM and swaps invalid UTF-8 for U+FFFD, counting bytes.

    Doing this below the TextIOWrapper keeps its C decoder (strict, and now never failing) and
    the csv module on their fast paths; pure-ASCII chunks pass through untouched.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._pending = b""
        self._started = False
        self.bad_bytes = 0

    @property
    def name(self) -> Any:
        return getattr(self._raw, "name", None)

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        while True:
            chunk = self._raw.read(max(size, _READ_SIZE))
            data = self._pending + chunk
            self._pending = b""
            if not self._started:
                if len(data) < len(_BOM) and chunk:
                    self._pending = data
                    continue
                self._started = True
                data = data.removeprefix(_BOM)
            if not data.isascii():
                data, self._pending = self._repair(data, final=not chunk)
            if data or not chunk:
                return data

    def _repair(self, data: bytes, *, final: bool) -> tuple[bytes, bytes]:
        """Valid UTF-8 for `data`, and the incomplete sequence at its end left for next time."""
        parts: list[bytes] = []
        while True:
            try:
                _, consumed = codecs.utf_8_decode(data, "strict", final)
            except UnicodeDecodeError as exc:
                parts += (data[: exc.start], _REPLACEMENT)
                self.bad_bytes += exc.end - exc.start
                data = data[exc.end :]
                continue
            parts.append(data[:consumed])
            return b"".join(parts), data[consumed:]


@dataclass
class ReadStats:
    """Running totals over every file a RecordReader has read, for the stream to report."""

    rows_read: int = 0
    rows_skipped: int = 0
    bad_values: int = 0
    bad_bytes: int = 0
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.rows_read - self.rows_skipped


@dataclass
class _Layout:
    """How the columns of one file's header become the stream's records."""

    width: int
    keys: list[str]
    #: (column index, converter, column name, type name) for each typed, emitted column.
    typed: list[tuple[int, Converter, str, str]]
    #: Reorders a row's cells into schema order; None when the file is already in it.
    pick: Callable[[list[Any]], Sequence[Any]] | None
    #: Whether a row needs a trailing None cell standing in for properties the file lacks.
    pad: bool
    id_index: int | None


@dataclass
class _FileProblems:
    source: str
    skipped: int = 0
    bad_by_column: collections.Counter[str] = field(default_factory=collections.Counter)


class RecordReader:
    """Turns result CSVs into records carrying exactly the schema's properties, in its order.

    Built once per stream: converters come from the schema alone. `known_columns` names every
    column discovery knows for the module, selected or not, so that unselected columns are
    dropped silently while a column discovery has never seen (a field added in Zoho since) is
    dropped with one warning asking for a new discovery.
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
        """Records of one result CSV, read as a stream; `source` names the file in logs."""
        text = _Utf8Repair(member)
        rows = csv.reader(io.TextIOWrapper(text, encoding="utf-8", newline=""))
        problems = _FileProblems(source)
        read = 0
        try:
            header = next(rows, None)
            if header is None:
                self._log.warning("%s: %s is empty, not even a header.", self._stream, source)
                return
            layout = self._layout(header, source)
            width, keys, typed, pick, pad = (
                layout.width,
                layout.keys,
                layout.typed,
                layout.pick,
                layout.pad,
            )
            while True:
                try:
                    for row in rows:
                        if len(row) != width:
                            if row:  # A blank line is not a row.
                                read += 1
                                self._skip(row, layout, rows.line_num, problems)
                            continue
                        read += 1
                        cells: list[Any] = [value or None for value in row]
                        try:
                            for index, convert, _, _ in typed:
                                value = cells[index]
                                if value is not None:
                                    cells[index] = convert(value)
                        except CONVERSION_ERRORS:
                            cells = self._convert_carefully(row, layout, rows.line_num, problems)
                        if pad:
                            cells.append(None)
                        yield dict(zip(keys, pick(cells) if pick else cells, strict=True))
                except csv.Error as exc:
                    read += 1
                    problems.skipped += 1
                    self._log.warning(
                        "%s: skipping malformed CSV near line %d of %s: %s",
                        self._stream,
                        rows.line_num,
                        source,
                        exc,
                    )
                else:
                    break
        finally:
            self.stats.rows_read += read
            self.stats.rows_skipped += problems.skipped
            self.stats.bad_values += problems.bad_by_column.total()
            self.stats.bad_bytes += text.bad_bytes
            self._summarise(problems, text.bad_bytes)

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
            elif name not in self._known:
                self._warn_unknown(name)
            else:
                position.setdefault(name, index)
        for name in self._properties:
            if name not in position:
                self._warn_once(
                    f"missing:{name}",
                    "%s: %s has no column %r; emitting null for it.",
                    self._stream,
                    source,
                    name,
                )
        width = len(columns)
        keys = list(self._properties)
        indices = [position.get(name, width) for name in keys]
        typed = [
            (position[name], convert, name, type_name)
            for name, (convert, type_name) in self._converters.items()
            if name in position
        ]
        in_order = indices == list(range(width))
        return _Layout(
            width=width,
            keys=keys,
            typed=typed,
            pick=None if in_order else _picker(indices),
            pad=width in indices,
            id_index=position.get(ID_PROPERTY),
        )

    def _warn_unknown(self, column: str) -> None:
        if f"unknown:{column}" in self._warned:
            return
        self._warned.add(f"unknown:{column}")
        self.stats.unknown_columns.append(column)
        self._log.warning(
            "%s: the result has column %r, which the catalog does not know (a field added in "
            "Zoho since discovery?); dropping it. Re-run discovery to include it.",
            self._stream,
            column,
        )

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(message, *args)

    def _skip(self, row: list[str], layout: _Layout, line: int, problems: _FileProblems) -> None:
        problems.skipped += 1
        if problems.skipped <= _DETAILED_REPORTS:
            self._log.warning(
                "%s: skipping the record ending on line %d of %s (Id %s): %d columns, expected %d.",
                self._stream,
                line,
                problems.source,
                _record_id(row, layout),
                len(row),
                layout.width,
            )

    def _convert_carefully(
        self, row: list[str], layout: _Layout, line: int, problems: _FileProblems
    ) -> list[Any]:
        """The fast path's result, cell by cell, with each bad value nulled and reported."""
        cells: list[Any] = [value or None for value in row]
        for index, convert, column, type_name in layout.typed:
            value = cells[index]
            if value is None:
                continue
            try:
                cells[index] = convert(value)
            except CONVERSION_ERRORS:
                cells[index] = None
                problems.bad_by_column[column] += 1
                if problems.bad_by_column.total() <= _DETAILED_REPORTS:
                    self._log.warning(
                        "%s: %r in column %r of Id %s (line %d of %s) is not a valid %s; "
                        "emitting null.",
                        self._stream,
                        _shown(value),
                        column,
                        _record_id(row, layout),
                        line,
                        problems.source,
                        type_name,
                    )
        return cells

    def _summarise(self, problems: _FileProblems, bad_bytes: int) -> None:
        if bad_bytes:
            self._log.warning(
                "%s: %s had %d bytes of invalid UTF-8, read as U+FFFD.",
                self._stream,
                problems.source,
                bad_bytes,
            )
        if problems.skipped > _DETAILED_REPORTS:
            self._log.warning(
                "%s: skipped %d malformed records in %s in all.",
                self._stream,
                problems.skipped,
                problems.source,
            )
        bad_values = problems.bad_by_column.total()
        if bad_values > _DETAILED_REPORTS:
            by_column = ", ".join(f"{c}: {n}" for c, n in problems.bad_by_column.most_common())
            self._log.warning(
                "%s: %d values in %s were not of their column's type and became null (%s).",
                self._stream,
                bad_values,
                problems.source,
                by_column,
            )


def _picker(indices: list[int]) -> Callable[[list[Any]], Sequence[Any]]:
    if len(indices) == 1:
        (index,) = indices
        return lambda cells: (cells[index],)
    return operator.itemgetter(*indices)


def _record_id(row: list[str], layout: _Layout) -> str:
    index = layout.id_index
    if index is None or index >= len(row) or not row[index]:
        return "unknown"
    return _shown(row[index])


def _shown(value: object) -> str:
    text = str(value)
    if len(text) > _SHOWN_VALUE_LENGTH:
        return text[:_SHOWN_VALUE_LENGTH] + "…"
    return text
