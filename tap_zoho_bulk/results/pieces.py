"""A result CSV cut into pieces that can be read apart, here or in worker processes.

Pieces end at newlines, where a record most likely ends, so that readers rarely have to hand a
record on to the next piece; and each piece but the last gets an end-of-piece line, so that a
reader can tell whether its piece ended between records. Decoding, shared by every reader of a
piece, replaces invalid UTF-8 and counts it, cheaply enough to do on every line.
"""

from __future__ import annotations

import codecs
import contextlib
import operator
from collections.abc import Iterator
from typing import IO

from tap_zoho_bulk.results.report import Report

#: CSV read and parsed at a time, here or in a worker: large enough that per-piece costs
#: (two trips between processes for a worker) vanish; 256 KiB to 2 MiB measured alike.
_CHUNK_SIZE = 256 * 1024
_BOM = codecs.BOM_UTF8
#: A line appended to each piece but the last: read back as a row of its own exactly when the
#: piece ends between records. Noncharacters never appear in Zoho's exports.
END_OF_CHUNK = "\ufdd0tap-zoho-bulk: end of chunk\ufdd0"
_END_LINE = (END_OF_CHUNK + "\n").encode()


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


class InvalidUtf8:
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
    def counted_into(cls, report: Report) -> Iterator[None]:
        """Add the bytes replaced while the block runs (and decodes) to `report`."""
        before = cls.count
        try:
            yield
        finally:
            report.bad_bytes += cls.count - before


codecs.register_error("tap_zoho_bulk.replace", InvalidUtf8.replace)
decode_line = operator.methodcaller("decode", "utf-8", "tap_zoho_bulk.replace")


def piece_lines(data: bytes, *, last: bool) -> list[bytes]:
    """A piece's lines as csv needs them: split where a text file in universal-newline mode
    splits (CR, LF, CRLF: bytes that no UTF-8 sequence contains), ends kept; then the
    end-of-piece line, unless the piece is the file's remainder."""
    lines = data.splitlines(keepends=True)
    if not last:
        lines.append(_END_LINE)
    return lines


def invalid_utf8_in(data: bytes) -> int:
    """Bytes of invalid UTF-8 in `data`, leaving the process's count as it was."""
    before = InvalidUtf8.count
    data.decode("utf-8", "tap_zoho_bulk.replace")
    found, InvalidUtf8.count = InvalidUtf8.count - before, before
    return found
