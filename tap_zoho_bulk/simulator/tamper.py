"""Data faults: result files that are wrong in content rather than in transport.

A download fault with one of these actions rewrites the result ZIP before it is served, so a tap
meets, end to end, what Zoho or the network can hand it: a CSV row with the wrong number of
columns, bytes that are not UTF-8, a value that is not of its field's type, a column added since
discovery, damaged compressed data, and archives a careful reader must refuse (a path-like member
name, an unexpected extra member, a decompression bomb).

Each CSV fault changes one cell or row (or adds one column), in the first row from the middle of
the page on that has something to change, so the rows before and after it show that a reader
kept going. Rewriting inflates the page in memory: these faults are for test-sized pages.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Mapping, Sequence

CSV_ACTIONS = ("bad-row", "bad-utf8", "bad-value", "extra-column")
ARCHIVE_ACTIONS = ("corrupt", "zip-slip", "extra-member", "zip-bomb")
DATA_ACTIONS = CSV_ACTIONS + ARCHIVE_ACTIONS

ADDED_COLUMN = "Field_Added_Since_Discovery"
BAD_VALUE = "not-a-value"
BAD_UTF8 = b"\xff\xfe"
EXTRA_MEMBER = "__MACOSX/._extra"
#: Newlines appended to a bombed member: they inflate about 1000-fold and are blank CSV lines.
BOMB_PADDING = 32 * 1024 * 1024

# Value types whose text a tap converts (so a non-value cannot pass as text), and plain text ones.
_TYPED = frozenset(
    {"integer", "double", "currency", "decimal", "percent", "boolean", "datetime", "date"}
)
_TEXT = frozenset({"text", "textarea", "email", "phone", "website", "picklist"})
_PLACEHOLDER = "\ue000"  # private-use character standing in for the invalid bytes


class TamperError(ValueError):
    """The page has nothing the fault could change (e.g. no rows)."""


def tamper_result(content: bytes, actions: Sequence[str], types: Mapping[str, str]) -> bytes:
    """The result ZIP `content` with every action in `actions` applied, CSV ones first.

    `types` maps column names to Zoho value types (data_type, or a formula's return type);
    columns it does not name are left alone by the type-directed faults.
    """
    result = content
    if any(action != "corrupt" for action in actions):
        result = _rewritten(content, actions, types)
    if "corrupt" in actions:
        result = _corrupt(result)
    return result


def _rewritten(content: bytes, actions: Sequence[str], types: Mapping[str, str]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        (info,) = archive.infolist()
        name, data = info.filename, archive.read(info)
    for action in actions:
        if action in CSV_ACTIONS:
            data = _CSV_FAULTS[action](data, types)
    members = [(name, data)]
    for action in actions:
        if action == "zip-slip":
            members[0] = ("../" + name, members[0][1])
        elif action == "extra-member":
            members.append((EXTRA_MEMBER, b"not part of a Bulk Read result"))
        elif action == "zip-bomb":
            members[0] = (members[0][0], members[0][1] + b"\n" * BOMB_PADDING)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, payload in members:
            archive.writestr(member, payload)
    return out.getvalue()


def _read(data: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    if len(rows) < 2:
        raise TamperError("the page has no rows to tamper with")
    return rows


def _write(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _target(rows: list[list[str]], usable: Callable[[list[str]], int | None]) -> tuple[int, int]:
    """(row, column) of the first row from the middle on (wrapping) with a usable cell."""
    count = len(rows) - 1
    for step in range(count):
        index = 1 + (count // 2 + step) % count
        column = usable(rows[index])
        if column is not None:
            return index, column
    raise TamperError("no row has a cell this fault can change")


def _columns_of(
    rows: list[list[str]], types: Mapping[str, str], kinds: frozenset[str]
) -> list[int]:
    return [i for i, name in enumerate(rows[0]) if types.get(name) in kinds]


def _first_filled(columns: list[int]) -> Callable[[list[str]], int | None]:
    return lambda row: next((i for i in columns if row[i]), None)


def _bad_row(data: bytes, _types: Mapping[str, str]) -> bytes:
    rows = _read(data)
    index, _ = _target(rows, lambda row: 0)
    rows[index] = [*rows[index], "one cell too many"]
    return _write(rows)


def _bad_value(data: bytes, types: Mapping[str, str]) -> bytes:
    rows = _read(data)
    index, column = _target(rows, _first_filled(_columns_of(rows, types, _TYPED)))
    rows[index][column] = BAD_VALUE
    return _write(rows)


def _bad_utf8(data: bytes, types: Mapping[str, str]) -> bytes:
    rows = _read(data)
    index, column = _target(rows, _first_filled(_columns_of(rows, types, _TEXT)))
    cell = rows[index][column]
    middle = len(cell) // 2
    rows[index][column] = cell[:middle] + _PLACEHOLDER + cell[middle:]
    return _write(rows).replace(_PLACEHOLDER.encode("utf-8"), BAD_UTF8)


def _extra_column(data: bytes, _types: Mapping[str, str]) -> bytes:
    rows = _read(data)
    return _write([rows[0] + [ADDED_COLUMN]] + [[*row, "added"] for row in rows[1:]])


def _corrupt(content: bytes) -> bytes:
    """Flip bytes in the middle of the first member's compressed data, headers left intact."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.infolist()[0]
    # The local header is 30 bytes plus the name and extra field lengths stored in it.
    name_length = int.from_bytes(
        content[info.header_offset + 26 : info.header_offset + 28], "little"
    )
    extra_length = int.from_bytes(
        content[info.header_offset + 28 : info.header_offset + 30], "little"
    )
    start = info.header_offset + 30 + name_length + extra_length
    middle = start + info.compress_size // 2
    damaged = bytearray(content)
    for offset in range(middle, min(middle + 8, start + info.compress_size)):
        damaged[offset] ^= 0xFF
    return bytes(damaged)


_CSV_FAULTS: dict[str, Callable[[bytes, Mapping[str, str]], bytes]] = {
    "bad-row": _bad_row,
    "bad-value": _bad_value,
    "bad-utf8": _bad_utf8,
    "extra-column": _extra_column,
}
