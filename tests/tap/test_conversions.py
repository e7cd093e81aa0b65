"""Cell converters: exact values, refusals, and the date-time cache against plain `datetime`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tap_zoho_bulk.results.conversions import (
    CONVERSION_ERRORS,
    converter_for,
    multi_select_splitter,
    parse_boolean,
    parse_date,
    parse_decimal,
    utc_datetime_converter,
)


def reference_utc(text: str) -> str:
    """The obvious, slow normalisation the cached converter must agree with."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


ZONES = [
    UTC,
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=-8)),
    timezone(timedelta(hours=-3, minutes=-30)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=-12)),
    ZoneInfo("America/Los_Angeles"),
    ZoneInfo("Australia/Adelaide"),
    ZoneInfo("Asia/Kolkata"),
]


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_cached_datetime_conversion_agrees_with_datetime_everywhere(zone):
    rnd = random.Random(str(zone))
    start = datetime(2019, 12, 25, tzinfo=UTC)
    texts = [
        (start + timedelta(seconds=rnd.randrange(2 * 366 * 86400))).astimezone(zone).isoformat()
        for _ in range(3000)
    ]
    # Day and year boundaries, where the UTC date differs from the local one.
    texts += [
        datetime(2020, 12, 31, 23, 59, 59, tzinfo=UTC).astimezone(zone).isoformat(),
        datetime(2021, 1, 1, 0, 0, 0, tzinfo=UTC).astimezone(zone).isoformat(),
        datetime(2020, 2, 29, 12, 0, 0, tzinfo=UTC).astimezone(zone).isoformat(),
    ]
    convert = utc_datetime_converter(max_days=64)  # small: the cache also gets emptied
    for text in texts + texts:
        assert convert(text) == reference_utc(text), text


def test_datetimes_in_any_offset_become_one_utc_instant():
    convert = utc_datetime_converter()
    same_instant = [
        "2021-05-12T17:25:29+05:30",
        "2021-05-12T03:55:29-08:00",
        "2021-05-12T11:55:29Z",
        "2021-05-12T11:55:29+00:00",
        "2021-05-12T11:55:29",
        "2021-05-12T11:55:29.999+00:00",
        "2021-05-12 17:25:29+05:30",
        "2021-05-12T17:25:29+0530",
    ]
    for _ in range(2):  # the second round is served by the cache
        assert {convert(text) for text in same_instant} == {"2021-05-12T11:55:29+00:00"}


def test_a_cached_day_still_rejects_bad_times():
    convert = utc_datetime_converter()
    assert convert("2021-05-12T17:25:29+05:30") == "2021-05-12T11:55:29+00:00"
    for bad in [
        "2021-05-12T24:00:00+05:30",
        "2021-05-12T17:60:29+05:30",
        "2021-05-12T17:25:60+05:30",
        "2021-05-12T17:25:6x+05:30",
        "2021-05-12T1x:25:29+05:30",
        "2021-05-12T17:25:29+05:30x",
        "2021-05-12T17:25:2",
        "2021-05-12T17:25:29+05:3",
    ]:
        with pytest.raises(CONVERSION_ERRORS):
            convert(bad)


@pytest.mark.parametrize(
    "bad", ["yesterday", "2021-02-30T00:00:00+00:00", "0001-01-01T00:00:00+05:30", "12:00"]
)
def test_impossible_datetimes_raise_a_conversion_error(bad):
    with pytest.raises(CONVERSION_ERRORS):
        utc_datetime_converter()(bad)


def test_a_naive_date_part_is_not_mistaken_for_a_cached_offset_day():
    convert = utc_datetime_converter()
    assert convert("2021-05-12T17:25:29+05:30") == "2021-05-12T11:55:29+00:00"
    assert convert("2021-05-12T17:25:29") == "2021-05-12T17:25:29+00:00"
    assert convert("2021-05-12T17:25:29-08:00") == "2021-05-13T01:25:29+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("TRUE", True), ("False", False), ("tRuE", True)],
)
def test_booleans_in_any_case(text, expected):
    assert parse_boolean(text) is expected


@pytest.mark.parametrize("bad", ["yes", "1", "0", " true", "truee", ""])
def test_non_booleans_raise(bad):
    with pytest.raises(CONVERSION_ERRORS):
        parse_boolean(bad)


def test_decimals_are_exact():
    value = parse_decimal("1234.50")
    assert isinstance(value, Decimal)
    assert value.as_tuple() == Decimal("1234.50").as_tuple()
    assert parse_decimal("0.1") + parse_decimal("0.2") == Decimal("0.3")
    assert parse_decimal("-1E+3") == Decimal(-1000)


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-inf", "12x", "1,234.50", "€5"])
def test_non_numbers_and_non_finite_numbers_raise(bad):
    with pytest.raises(CONVERSION_ERRORS):
        parse_decimal(bad)


def test_dates():
    assert parse_date("2021-05-12") == "2021-05-12"
    assert parse_date("20210512") == "2021-05-12"
    for bad in ["2021-02-30", "12/05/2021", "2021-5-1"]:
        with pytest.raises(CONVERSION_ERRORS):
            parse_date(bad)


def test_multi_select_split_strips_and_drops_blank_items():
    split = multi_select_splitter(";")
    assert split("EMEA; APAC ;;Americas;") == ["EMEA", "APAC", "Americas"]
    assert split(" ; ") == []
    assert multi_select_splitter(",")("a, b") == ["a", "b"]


def test_converter_choice_follows_the_schema():
    datetimes = utc_datetime_converter()

    def kind(schema):
        chosen = converter_for(schema, datetimes=datetimes, multi_select_separator=";")
        return chosen and chosen[1]

    assert kind({"type": ["boolean", "null"]}) == "boolean"
    assert kind({"type": "integer"}) == "integer"
    assert kind({"type": ["number", "null"]}) == "number"
    assert kind({"type": ["integer", "number", "null"]}) == "number"
    assert kind({"type": ["array", "null"], "items": {"type": "string"}}) == "array"
    assert kind({"type": ["string", "null"], "format": "date-time"}) == "date-time"
    assert kind({"type": ["string", "null"], "format": "date"}) == "date"
    assert kind({"type": ["string", "null"]}) is None
    assert kind({"type": ["string", "integer"]}) is None
    assert kind({"type": "object"}) is None
    assert kind({}) is None
    assert kind({"type": [["odd"]]}) is None
    assert converter_for(
        {"type": "string", "format": "date-time"},
        datetimes=datetimes,
        multi_select_separator=";",
    ) == (datetimes, "date-time")
