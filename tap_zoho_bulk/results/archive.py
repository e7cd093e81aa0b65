"""Opening a downloaded Bulk Read result without trusting it.

A result ZIP comes from the network and may be truncated, damaged or hostile; nothing else in
the tap reads it until it has passed here: one expected member, sane declared sizes and ratio,
inflated as a stream, and damage found while reading reported as a corrupt archive.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tap_zoho_bulk.errors import CorruptArchiveError, UnsafeArchiveError
from tap_zoho_bulk.results.report import shown

DEFAULT_MAX_COMPRESSION_RATIO = 200
DEFAULT_MAX_MEMBER_SIZE = 16 * 1024**3

_VERIFY_READ_SIZE = 1024 * 1024


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
            f"this one holds {len(members)}: {shown(names)}"
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
