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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, BinaryIO, ClassVar

LINE_END = "\r\n"
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
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return quote(separator.join(str(v) for v in value))
    return quote(str(value))


class _DayText(dict[int, str]):
    """Day number since the epoch → `YYYY-MM-DDT`, filled on first use."""

    def __missing__(self, day: int) -> str:
        text = (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"
        self[day] = text
        return text


class DateTimeText:
    """Renders (epoch seconds, offset seconds) as `2021-05-12T17:25:29+05:30` without datetime.

    Record times are the only per-record datetime cells, so they get table lookups instead of
    `datetime.isoformat`: a cache of day prefixes and a table of the 86,400 clock times.
    """

    _clock: ClassVar[list[str]] = []
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.days = _DayText()
        with DateTimeText._lock:
            if not DateTimeText._clock:
                DateTimeText._clock = [
                    f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)
                ]
        self.clock = DateTimeText._clock

    def one(self, epoch: int, offset: int, suffix: str) -> str:
        local = epoch + offset
        return self.days[local // 86400] + self.clock[local % 86400] + suffix


@contextmanager
def zipped_csv(dest: BinaryIO, member: str, *, large: bool) -> Iterator[ChunkWriter]:
    """A ZIP holding one CSV member, written to `dest` as chunks arrive.

    Compression and the CRC run on a background thread (zlib releases the GIL), so building the
    next chunk of rows overlaps with deflating the previous one. `dest` may be unseekable (an
    HTTP response): zipfile then writes data descriptors. `large` forces ZIP64 for members that
    could pass 2 GiB.
    """
    with (
        zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(member, "w", force_zip64=large) as handle,
    ):
        writer = ChunkWriter(handle)
        try:
            yield writer
        finally:
            writer.finish()


class ChunkWriter:
    """Feeds encoded CSV text to a zip member from a bounded queue on one worker thread."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=3)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="zip-writer", daemon=True)
        self._thread.start()

    def write(self, text: str) -> None:
        """Queue one chunk; re-raises a failure of the worker (e.g. the client hung up)."""
        if self._error is not None:
            raise self._error
        self._queue.put(text.encode())

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
