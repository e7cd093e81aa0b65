"""CSV cell text to JSON values, one converter per JSON Schema property.

Converters run on the distinct values of exports that reach millions of rows, so each is the
cheapest callable that still validates its input: C builtins where they fit, and a cache for
date-times, the one type whose honest conversion costs more than parsing its CSV cell. Every
converter raises one of CONVERSION_ERRORS on text that is not of its type; deciding what to do
then is the caller's business.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

Converter = Callable[[str], Any]
ColumnConverter = Callable[[Sequence[str]], list[Any]]

#: What a converter raises on text that is not of its type.
CONVERSION_ERRORS = (ValueError, ArithmeticError, LookupError)

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MINUTES_PER_DAY = 1440
_UTC_SUFFIX = "+00:00"
#: ":SS" of a valid time → the end of its UTC text: checks the seconds and appends the offset.
_UTC_SECONDS = {f":{second:02d}": f":{second:02d}{_UTC_SUFFIX}" for second in range(60)}

#: Every capitalisation of true/false, so that the converter is a bare C dict lookup.
_BOOLEANS: dict[str, bool] = {
    "".join(letters): value
    for word, value in (("true", True), ("false", False))
    for letters in itertools.product(*((c, c.upper()) for c in word))
}

parse_boolean: Converter = _BOOLEANS.__getitem__
parse_integer: Converter = int


def parse_decimal(text: str) -> Decimal:
    """Exact decimal: currency must survive the trip without float rounding.

    NaN and infinities are refused because JSON has no spelling for them.
    """
    number = Decimal(text)
    if not number.is_finite():
        raise ValueError(text)
    return number


def decimal_column(texts: Sequence[str]) -> list[Decimal | None]:
    """`parse_decimal` over a column at the cost of bare `Decimal` calls.

    Every spelling of NaN and infinity holds an "n", so one search of the column's text
    replaces a finiteness check per value; a column with one refuses the column, to be
    converted value by value by the caller.
    """
    text = "".join(texts)
    if "n" in text or "N" in text:
        raise ValueError("an 'n' in a number column: NaN or infinity?")
    return [Decimal(text) if text else None for text in texts]


@functools.lru_cache(maxsize=1 << 16)
def parse_date(text: str) -> str:
    """A date's canonical `YYYY-MM-DD`; cached, as exports repeat the same few thousand days."""
    return date.fromisoformat(text).isoformat()


def column_converter(convert: Converter) -> ColumnConverter:
    """`convert` over a column of a batch, blanks to None; raises on the first bad value."""
    if convert is parse_decimal:
        return decimal_column

    def column(texts: Sequence[str]) -> list[Any]:
        return [convert(text) if text else None for text in texts]

    return column


def multi_select_splitter(separator: str) -> Converter:
    """Split a multi-select cell; blank items (doubled or trailing separators) are dropped."""

    def split(text: str) -> list[str]:
        return [item for item in map(str.strip, text.split(separator)) if item]

    return split


@functools.cache
def _shift_table(offset_minutes: int) -> dict[str, tuple[int, str]]:
    """Local "THH:MM" → (index into (previous, same, next) UTC day, UTC "THH:MM")."""
    table = {}
    for local in range(_MINUTES_PER_DAY):
        day, utc = divmod(local - offset_minutes, _MINUTES_PER_DAY)
        table[f"T{local // 60:02d}:{local % 60:02d}"] = (
            day + 1,
            f"T{utc // 60:02d}:{utc % 60:02d}",
        )
    return table


def utc_datetime_converter(max_days: int = 8192) -> Converter:
    """A converter to UTC RFC 3339 at second precision, `YYYY-MM-DDTHH:MM:SS+00:00`.

    Accepts any offset, `Z`, or none (taken as UTC). Zoho writes every date-time of a file in
    its user's zone, so the work of shifting a timestamp depends only on its local date and
    offset: this converter remembers, per (local date, offset), the three UTC dates a time of
    that day can fall on, and rewrites the rest of the text through a per-offset minute table.
    A remembered conversion is pure string work and validates every character it copies; the
    first timestamp of each day goes through `datetime` and teaches the cache. One converter can
    serve all date-time columns of a stream.
    """
    days: dict[str, tuple[tuple[str, str, str], dict[str, tuple[int, str]]]] = {}

    def convert(text: str) -> str:
        try:
            dates, minutes = days[text[:10] + text[19:]]
            day, hours_minutes = minutes[text[10:16]]
            return f"{dates[day]}{hours_minutes}{_UTC_SECONDS[text[16:19]]}"
        except KeyError:
            return convert_and_learn(text)

    def convert_and_learn(text: str) -> str:
        moment = datetime.fromisoformat(text)
        offset = moment.utcoffset()
        if offset is not None:
            moment = moment.astimezone(UTC)
        # Only "YYYY-MM-DDTHH:MM:SS" directly followed by the offset (or by nothing) can be
        # rewritten by position, and only whole-minute offsets leave the seconds alone.
        if (
            text[10:11] == "T"
            and text[13:14] == ":"
            and text[16:17] == ":"
            and text[19:20] in ("", "Z", "+", "-")
            and (offset is None or not offset % _MINUTE)
        ):
            remember(text, 0 if offset is None else offset // _MINUTE)
        return moment.isoformat(timespec="seconds")[:19] + _UTC_SUFFIX

    def remember(text: str, offset_minutes: int) -> None:
        local_day = date.fromisoformat(text[:10])
        if not date.min < local_day < date.max:
            return
        if len(days) >= max_days:
            days.clear()
        neighbours = (
            (local_day - _DAY).isoformat(),
            local_day.isoformat(),
            (local_day + _DAY).isoformat(),
        )
        days[text[:10] + text[19:]] = (neighbours, _shift_table(offset_minutes))

    return convert


_SCALARS: dict[frozenset[str], tuple[Converter, str]] = {
    frozenset({"boolean"}): (parse_boolean, "boolean"),
    frozenset({"integer"}): (parse_integer, "integer"),
    frozenset({"number"}): (parse_decimal, "number"),
    frozenset({"integer", "number"}): (parse_decimal, "number"),
}


def converter_for(
    property_schema: Mapping[str, Any], *, datetimes: Converter, multi_select_separator: str
) -> tuple[Converter, str] | None:
    """The converter for a property and a name for its type, or None when text stays as is.

    `datetimes` is passed in so that the columns of one stream share one date-time cache.
    """
    declared = property_schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    types = (
        frozenset(t for t in declared if isinstance(t, str))
        if isinstance(declared, list)
        else frozenset()
    )
    types -= {"null"}
    if types == {"string"}:
        string_format = property_schema.get("format")
        if string_format == "date-time":
            return datetimes, "date-time"
        if string_format == "date":
            return parse_date, "date"
        return None
    if types == {"array"}:
        return multi_select_splitter(multi_select_separator), "array"
    return _SCALARS.get(types)
