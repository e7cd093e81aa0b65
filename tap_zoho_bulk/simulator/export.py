"""How values look in a Bulk Read CSV, and how the CSV is streamed into a ZIP.

Cells are rendered the way the reference (§6.2) describes Zoho's files: `true`/`false`, empty for
null, plain integers, decimals with their field's fixed places, `YYYY-MM-DD` dates, ISO-8601
datetimes with a UTC offset and second precision, lookups as ids, multi-select values joined by a
configurable separator, and RFC-4180 quoting. Rendering happens once per pool entry, never per
record, so every function here may be slow-ish; `DateTimeText` is the exception, as record times
are unique per record.
"""

from __future__ import annotations

import queue
import threading
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, BinaryIO

LINE_END = b"\r\n"
"""RFC-4180 record separator. Values may hold bare `\\n`, so readers must parse quotes."""

_NEEDS_QUOTES = frozenset(',"\r\n')


def quote(text: str) -> str:
    """RFC-4180 minimal quoting (what `csv.QUOTE_MINIMAL` does)."""
    if _NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def render(value: object, separator: str = ";") -> str:
    """The CSV cell (already quoted) for a typed value from the data oracle."""
    if value is None:
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Decimal):
        text = format(value, "f")  # keeps the field's fixed places, never an exponent
    elif isinstance(value, (date, datetime)):
        text = value.isoformat()  # datetimes carry whole seconds and an offset
    elif isinstance(value, list):
        text = separator.join(map(str, value))
    else:
        text = str(value)
    return quote(text)


class DateTimeText:
    """Renders record times as `2021-05-12T17:25:29+05:30` without datetime objects.

    Record times are the only per-record datetime cells, so they are two list lookups: the
    `YYYY-MM-DDTHH:` prefix of the local hour, and per UTC offset the 3,600 `MM:SS+05:30` tails.
    Output is UTF-8 bytes, like every CSV cell, because joining bytes never widens (text with one
    emoji becomes a 4-byte-per-character str in CPython).
    """

    def __init__(self, offsets: Sequence[int]) -> None:
        self.offsets = tuple(offsets)
        self.tails = [
            [f"{s // 60:02d}:{s % 60:02d}{offset_text(offset)}".encode() for s in range(3600)]
            for offset in offsets
        ]
        # (first hour, prefixes from it on), replaced as one object so readers see a pair
        # that belongs together while another thread widens the range.
        self._hours: tuple[int, list[bytes]] = (0, [])
        self._lock = threading.Lock()

    def column(self, times: Sequence[int], offsets: Sequence[int]) -> list[bytes]:
        """Text of each epoch time at the offset of the same position (index into `offsets`)."""
        if not times:
            return []
        shift, tails = self.offsets, self.tails
        first, hours = self._cover(
            (min(times) + min(shift)) // 3600, (max(times) + max(shift)) // 3600
        )
        return [
            hours[(x := t + shift[o]) // 3600 - first] + tails[o][x % 3600]
            for t, o in zip(times, offsets, strict=True)
        ]

    def _cover(self, low: int, high: int) -> tuple[int, list[bytes]]:
        """The hour table, widened first if it does not reach from `low` to `high`."""
        first, hours = self._hours
        if hours and first <= low and high < first + len(hours):
            return first, hours
        with self._lock:
            first, hours = self._hours
            if not hours:
                first, hours = low, []
            if low < first:
                hours = [*map(_hour_prefix, range(low, first)), *hours]
                first = low
            hours.extend(map(_hour_prefix, range(first + len(hours), high + 1)))
            self._hours = (first, hours)
            return first, hours


def _hour_prefix(hour: int) -> bytes:
    return f"{_EPOCH_DAY + timedelta(hours=hour):%Y-%m-%dT%H:}".encode()


_EPOCH_DAY = datetime(1970, 1, 1)


def offset_text(seconds: int) -> str:
    """19800 → `+05:30` (UTC renders as `+00:00`, as Zoho writes it)."""
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@contextmanager
def zipped_csv(
    dest: BinaryIO, member: str, *, stamp: datetime, large: bool
) -> Iterator[ChunkWriter]:
    """A ZIP holding one CSV member, written to `dest` as chunks arrive.

    Compression and the CRC run on a background thread (zlib releases the GIL), so building the
    next chunk of rows overlaps with deflating the previous one on a multi-core machine. `dest`
    may be unseekable (an HTTP response): zipfile then writes data descriptors. The member is
    stamped with `stamp` rather than the wall clock, so equal data gives equal bytes. `large`
    forces ZIP64 for members that could pass 2 GiB.
    """
    info = zipfile.ZipInfo(member, date_time=stamp.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    # A ZipInfo does not inherit the archive's level; 3.13 keeps this name as an alias.
    info._compresslevel = 1  # type: ignore[attr-defined]
    info.external_attr = 0o644 << 16
    with (
        zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(info, "w", force_zip64=large) as handle,
    ):
        writer = ChunkWriter(handle)
        try:
            yield writer
        finally:
            writer.finish()


class ChunkWriter:
    """Feeds CSV bytes to a zip member from a bounded queue on one worker thread."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="zip-writer", daemon=True)
        self._thread.start()

    def write(self, chunk: bytes) -> None:
        """Queue one chunk; re-raises a failure of the worker (e.g. the client hung up)."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def finish(self) -> None:
        """Wait until everything queued is in the member; re-raise the worker's failure."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is not None:
                continue  # keep draining so that the producer never blocks forever
            try:
                self._handle.write(chunk)
            except BaseException as exc:  # handed to the producer thread
                self._error = exc
