"""Result ZIPs on disk to records: exact values, bad input, unsafe archives, streaming."""

from __future__ import annotations

import csv
import io
import logging
import random
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from singer_sdk.singerlib.json import serialize_json

from tap_zoho_bulk.errors import CorruptArchiveError, UnsafeArchiveError
from tap_zoho_bulk.results import pieces as pieces_module
from tap_zoho_bulk.results.archive import open_result_member
from tap_zoho_bulk.results.reader import RecordReader
from tap_zoho_bulk.singer.schema import module_schema

JOB = "4150868000005376042"
MEMBER = f"{JOB}.csv"
LOGGER = "tap_zoho_bulk.results.reader"

FIELDS = [
    {"api_name": "id", "data_type": "bigint"},
    {"api_name": "Name", "data_type": "text"},
    {"api_name": "Notes", "data_type": "textarea"},
    {"api_name": "Owner", "data_type": "ownerlookup"},
    {"api_name": "Amount", "data_type": "currency"},
    {"api_name": "Score", "data_type": "double"},
    {"api_name": "Units", "data_type": "integer"},
    {"api_name": "External_Ref", "data_type": "bigint"},
    {"api_name": "Active", "data_type": "boolean"},
    {"api_name": "Closing_Date", "data_type": "date"},
    {"api_name": "Created_Time", "data_type": "datetime"},
    {"api_name": "Regions", "data_type": "multiselectpicklist"},
    {"api_name": "Weighted", "data_type": "formula", "formula": {"return_type": "currency"}},
]
SCHEMA = module_schema(FIELDS, ["Owner.last_name"])
HEADER = "id,Name,Notes,Owner,Amount,Score,Units,External_Ref,Active,Closing_Date,Created_Time,Regions,Weighted,Owner.last_name"  # noqa: E501


def write_zip(
    tmp_path: Path,
    content: bytes | str,
    name: str = MEMBER,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    path = tmp_path / f"{JOB}.zip"
    data = content.encode() if isinstance(content, str) else content
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(name, data)
    return path


def read_all(path: Path, reader: RecordReader | None = None, **limits) -> list[dict]:
    reader = reader or RecordReader(SCHEMA, SCHEMA["properties"], stream_name="Deals")
    with open_result_member(path, MEMBER, **limits) as member:
        return list(reader.records(member, source=path.name))


def csv_of(*lines: str, newline: str = "\r\n") -> str:
    return newline.join(lines) + newline


# ---------------------------------------------------------------- values


def test_every_type_gets_its_exact_json_value(tmp_path):
    content = csv_of(
        HEADER,
        '4150868000000000001,Acme,"first line\r\nsecond, with comma\nthird ""quoted""",'
        "4150868000000225013,1234.50,0.1,42,9223372036854775807,false,2021-05-12,"
        "2021-05-12T17:25:29+05:30,EMEA; APAC;;Americas,617.25,Boyle",
        "4150868000000000002,,,,,,,,,,,,,",
        "4150868000000000003,Ünïcødé 東京,x,1,-0.005,1E+3,-7,1,TRUE,2024-02-29,"
        "2021-05-12T03:55:29-08:00,EMEA,0,García",
    )
    records = read_all(write_zip(tmp_path, content))
    assert records == [
        {
            "Id": "4150868000000000001",
            "Name": "Acme",
            "Notes": 'first line\r\nsecond, with comma\nthird "quoted"',
            "Owner": "4150868000000225013",
            "Amount": Decimal("1234.50"),
            "Score": Decimal("0.1"),
            "Units": 42,
            "External_Ref": "9223372036854775807",
            "Active": False,
            "Closing_Date": "2021-05-12",
            "Created_Time": "2021-05-12T11:55:29+00:00",
            "Regions": ["EMEA", "APAC", "Americas"],
            "Weighted": Decimal("617.25"),
            "Owner.last_name": "Boyle",
        },
        {
            "Id": "4150868000000000002",
            **{name: None for name in SCHEMA["properties"] if name != "Id"},
        },
        {
            "Id": "4150868000000000003",
            "Name": "Ünïcødé 東京",
            "Notes": "x",
            "Owner": "1",
            "Amount": Decimal("-0.005"),
            "Score": Decimal("1E+3"),
            "Units": -7,
            "External_Ref": "1",
            "Active": True,
            "Closing_Date": "2024-02-29",
            "Created_Time": "2021-05-12T11:55:29+00:00",
            "Regions": ["EMEA"],
            "Weighted": Decimal("0"),
            "Owner.last_name": "García",
        },
    ]
    first = records[0]
    assert first["Active"] is False
    assert type(first["Units"]) is int
    assert first["Amount"].as_tuple() == Decimal("1234.50").as_tuple()
    assert all(list(record) == list(SCHEMA["properties"]) for record in records)


def test_records_encode_to_exact_json(tmp_path):
    content = csv_of(
        HEADER,
        "7,Acme,,,1234.50,0.1,42,,false,2021-05-12,2021-05-12T11:55:29Z,a;b,,",
    )
    (record,) = read_all(write_zip(tmp_path, content))
    expected = (
        '{"Id":"7","Name":"Acme","Notes":null,"Owner":null,"Amount":1234.50,"Score":0.1,'
        '"Units":42,"External_Ref":null,"Active":false,"Closing_Date":"2021-05-12",'
        '"Created_Time":"2021-05-12T11:55:29+00:00","Regions":["a","b"],"Weighted":null,'
        '"Owner.last_name":null}'
    )
    # The SDK's msgspec writer and its default (simplejson) writer.
    assert msgspec.json.Encoder(decimal_format="number").encode(record) == expected.encode()
    assert serialize_json(record) == expected


def test_datetimes_with_different_offsets_are_the_same_utc_instant(tmp_path):
    lines = [
        "Id,Created_Time",
        "1,2021-05-12T17:25:29+05:30",
        "2,2021-05-12T03:55:29-08:00",
        "3,2021-05-12T11:55:29Z",
        "4,2021-05-12T11:55:29",
        "5,2021-05-12T11:55:29.250+00:00",
        "6,2021-05-12T23:30:00-08:00",
    ]
    records = read_all(write_zip(tmp_path, csv_of(*lines)))
    assert [r["Created_Time"] for r in records] == ["2021-05-12T11:55:29+00:00"] * 5 + [
        "2021-05-13T07:30:00+00:00"
    ]


def test_multi_select_separator_is_configurable_and_lists_are_not_shared(tmp_path):
    content = csv_of("Id,Regions", '1,"EMEA, APAC"', '2,"EMEA, APAC"', "3,EMEA")
    reader = RecordReader(SCHEMA, multi_select_separator=",")
    records = read_all(write_zip(tmp_path, content), reader)
    assert [r["Regions"] for r in records] == [["EMEA", "APAC"], ["EMEA", "APAC"], ["EMEA"]]
    assert records[0]["Regions"] is not records[1]["Regions"]


# ---------------------------------------------------------------- layout of the file


@pytest.mark.parametrize("id_header", ["id", "Id"])
def test_id_column_is_accepted_in_either_case(tmp_path, id_header):
    records = read_all(write_zip(tmp_path, csv_of(f"{id_header},Name", "11,Acme")))
    assert records[0]["Id"] == "11"
    assert records[0]["Name"] == "Acme"


def test_columns_in_any_order_give_records_in_schema_order(tmp_path):
    content = csv_of("Units,Owner.last_name,Name,Id", "5,Boyle,Acme,9")
    (record,) = read_all(write_zip(tmp_path, content))
    assert list(record) == list(SCHEMA["properties"])
    assert (record["Id"], record["Name"], record["Units"], record["Owner.last_name"]) == (
        "9",
        "Acme",
        5,
        "Boyle",
    )


def test_byte_order_mark_and_line_endings(tmp_path):
    for newline in ("\r\n", "\n"):
        content = "\ufeff" + csv_of("Id,Notes", '1,"a\r\nb"', "2,c", newline=newline)
        records = read_all(write_zip(tmp_path, content.encode("utf-8")))
        assert [(r["Id"], r["Notes"]) for r in records] == [("1", "a\r\nb"), ("2", "c")]


def test_schema_properties_missing_from_the_file_are_null_and_warned_once(tmp_path, caplog):
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first = read_all(write_zip(tmp_path, csv_of("Id,Name", "1,Acme")), reader)
        second = read_all(write_zip(tmp_path, csv_of("Id,Name", "2,Beta")), reader)
    assert first[0]["Amount"] is None
    assert second[0]["Created_Time"] is None
    assert caplog.text.count("no column 'Amount'") == 1


def test_selected_schema_drops_known_columns_silently(tmp_path, caplog):
    properties = {name: SCHEMA["properties"][name] for name in ("Id", "Units")}
    selected = {"type": "object", "properties": properties}
    reader = RecordReader(selected, SCHEMA["properties"], stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, csv_of("Id,Name,Units,Amount", "1,A,2,3.5")), reader)
    assert records == [{"Id": "1", "Units": 2}]
    assert caplog.records == []


def test_unknown_columns_are_dropped_with_one_warning_each(tmp_path, caplog):
    reader = RecordReader(SCHEMA, SCHEMA["properties"], stream_name="Deals")
    content = csv_of("Id,New_Field,Name,Brand_New", "1,x,Acme,y", "2,z,Beta,w")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, content), reader)
        records += read_all(write_zip(tmp_path, content), reader)
    assert [r["Name"] for r in records] == ["Acme", "Beta", "Acme", "Beta"]
    assert all("New_Field" not in r and "Brand_New" not in r for r in records)
    warnings = [r.getMessage() for r in caplog.records if "catalog does not know" in r.message]
    assert len(warnings) == 2
    assert "'New_Field'" in warnings[0]
    assert "'Brand_New'" in warnings[1]
    assert all("Re-run discovery" in w for w in warnings)
    assert reader.stats.unknown_columns == ["New_Field", "Brand_New"]


def test_empty_member_gives_no_records(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert read_all(write_zip(tmp_path, b"")) == []
    assert "empty" in caplog.text


def test_header_only_gives_no_records(tmp_path):
    assert read_all(write_zip(tmp_path, csv_of(HEADER))) == []


def test_reader_needs_a_schema_with_properties():
    with pytest.raises(ValueError, match="no properties"):
        RecordReader({"type": "object", "properties": {}})


# ---------------------------------------------------------------- bad input


def test_rows_with_the_wrong_number_of_columns_are_skipped_counted_and_logged(tmp_path, caplog):
    content = csv_of("Id,Name,Units", "1,A,1", "2,B", "3,C,3,extra", "", "4,D,4")
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, content), reader)
    assert [r["Id"] for r in records] == ["1", "4"]
    assert (reader.stats.rows_read, reader.stats.rows_skipped, reader.stats.records) == (4, 2, 2)
    skips = [r.getMessage() for r in caplog.records if "skipping record" in r.message]
    assert len(skips) == 2
    assert "record 2 " in skips[0]
    assert "Id 2" in skips[0]
    assert "record 3 " in skips[1]
    assert "Id 3" in skips[1]


def test_many_broken_rows_are_summarised_not_each_logged(tmp_path, caplog):
    lines = ["Id,Name"] + [f"{i},ok" if i % 3 else f"{i}" for i in range(1, 3001)]
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, csv_of(*lines)), reader)
    assert len(records) == 2000
    assert reader.stats.rows_skipped == 1000
    skips = [r for r in caplog.records if "skipping record" in r.message]
    assert len(skips) == 5
    assert "skipped 1000 malformed records" in caplog.text


def test_a_field_the_csv_module_refuses_costs_one_row(tmp_path, caplog):
    huge = "x" * 200_000  # beyond csv.field_size_limit()
    content = csv_of("Id,Name", "1,a", f"2,{huge}", "3,c")
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, content), reader, max_compression_ratio=10_000)
    assert [r["Id"] for r in records] == ["1", "3"]
    assert reader.stats.rows_skipped == 1
    assert "malformed CSV" in caplog.text


def test_invalid_utf8_is_replaced_counted_and_warned_once_per_file(tmp_path, caplog):
    content = csv_of("Id,Name,Notes", "1,ok,fine").encode()
    content += b"2,caf\xe9,\xff\xfe\r\n3,\xe6\x9d\xb1\xe4\xba\xac,x\r\n4,cut,\xe6\x9d"
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, content), reader)
    assert [(r["Name"], r["Notes"]) for r in records] == [
        ("ok", "fine"),
        ("caf\ufffd", "\ufffd\ufffd"),
        ("東京", "x"),
        ("cut", "\ufffd"),
    ]
    assert reader.stats.bad_bytes == 5
    utf8_warnings = [r.getMessage() for r in caplog.records if "UTF-8" in r.message]
    assert len(utf8_warnings) == 1
    assert "5 bytes" in utf8_warnings[0]


def test_multibyte_characters_across_read_chunks_are_not_bad_bytes(tmp_path):
    # Enough three-byte characters that some straddle every internal read boundary.
    text = "東" * 100_000
    content = csv_of("Id,Notes", f"1,{text}", "2,é").encode()
    reader = RecordReader(SCHEMA)
    records = read_all(write_zip(tmp_path, content), reader, max_compression_ratio=10_000)
    assert records[0]["Notes"] == text
    assert records[1]["Notes"] == "é"
    assert reader.stats.bad_bytes == 0


def test_values_not_of_their_type_become_null_and_are_logged(tmp_path, caplog):
    content = csv_of(
        "Id,Amount,Units,Active,Closing_Date,Created_Time,Name",
        "1,12x,1.5,maybe,2021-02-30,yesterday,kept",
        "2,NaN,2,true,2021-05-12,2021-05-12T11:55:29Z,also kept",
    )
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, content), reader)
    assert [
        (r["Amount"], r["Units"], r["Active"], r["Closing_Date"], r["Created_Time"], r["Name"])
        for r in records
    ] == [
        (None, None, None, None, None, "kept"),
        (None, 2, True, "2021-05-12", "2021-05-12T11:55:29+00:00", "also kept"),
    ]
    assert reader.stats.bad_values == 6
    detailed = [r.getMessage() for r in caplog.records if "is not a valid" in r.message]
    assert len(detailed) == 5
    assert "'12x' in column 'Amount' of Id 1" in detailed[0]
    assert "not a valid number" in detailed[0]
    assert "6 values" in caplog.text  # the summary, after the first five in full


def test_bad_values_are_counted_across_batches_and_long_values_truncated(tmp_path, caplog):
    long_bad = "9" * 30 + "x" * 100
    lines = ["Id,Amount"] + [f"{i},{long_bad if i % 7 == 0 else i}" for i in range(1, 5001)]
    reader = RecordReader(SCHEMA, stream_name="Deals")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = read_all(write_zip(tmp_path, csv_of(*lines)), reader)
    assert len(records) == 5000
    assert sum(r["Amount"] is None for r in records) == 5000 // 7
    assert records[5]["Amount"] == Decimal(6)
    assert reader.stats.bad_values == 5000 // 7
    assert long_bad not in caplog.text
    assert long_bad[:40] + "…" in caplog.text
    assert f"{5000 // 7} values" in caplog.text


# ---------------------------------------------------------------- archives


def test_stored_members_are_read_too(tmp_path):
    path = write_zip(tmp_path, csv_of("Id", "1"), compression=zipfile.ZIP_STORED)
    assert read_all(path) == [{"Id": "1", **{k: None for k in SCHEMA["properties"] if k != "Id"}}]


def test_two_members_are_refused(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MEMBER, "Id\n1\n")
        archive.writestr("other.csv", "Id\n2\n")
    with pytest.raises(UnsafeArchiveError, match="exactly one member"):
        read_all(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("4150868000005376043.csv", "unexpected ZIP member"),
        (f"../{MEMBER}", "path-like"),
        (f"/tmp/{MEMBER}", "path-like"),
        (f"sub/{MEMBER}", "path-like"),
        (f"..\\{MEMBER}", "path-like"),
        (f"C:{MEMBER}", "path-like"),
        ("..", "path-like"),
    ],
)
def test_unexpected_or_path_like_member_names_are_refused(tmp_path, name, message):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), "Id\n1\n")
    with pytest.raises(UnsafeArchiveError, match=message):
        read_all(path)


def test_expected_member_must_be_a_plain_name(tmp_path):
    path = write_zip(tmp_path, "Id\n1\n")
    with (
        pytest.raises(ValueError, match="plain file name"),
        open_result_member(path, f"../{MEMBER}"),
    ):
        pytest.fail("opened")


def test_decompression_bomb_is_refused_before_inflating(tmp_path):
    path = write_zip(tmp_path, b"Id\n" + b"1\n" * 5_000_000)
    with pytest.raises(UnsafeArchiveError, match="inflate"), open_result_member(path, MEMBER):
        pytest.fail("a bomb was opened")


def test_bomb_limit_is_configurable(tmp_path):
    path = write_zip(tmp_path, csv_of("Id", *["1"] * 2000))
    assert len(read_all(path)) == 2000
    with pytest.raises(UnsafeArchiveError, match="inflate"):
        read_all(path, max_compression_ratio=2)


def test_declared_size_over_the_limit_is_refused(tmp_path):
    path = write_zip(tmp_path, csv_of("Id", *[str(i) for i in range(1000)]))
    with pytest.raises(UnsafeArchiveError, match="over the limit of 1000"):
        read_all(path, max_member_size=1000)


def test_encrypted_and_exotic_members_are_refused(tmp_path):
    path = write_zip(tmp_path, "Id\n1\n")
    data = bytearray(path.read_bytes())
    # zipfile cannot write encrypted members: set the flag in both headers by hand.
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.index(signature) + flags_at] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeArchiveError, match="encrypted"):
        read_all(path)
    path = write_zip(tmp_path, "Id\n1\n", compression=zipfile.ZIP_BZIP2)
    with pytest.raises(UnsafeArchiveError, match="compression method"):
        read_all(path)


def test_a_file_that_is_not_a_zip_is_reported_as_corrupt(tmp_path):
    path = tmp_path / "page.zip"
    path.write_bytes(b"<html>Service Unavailable</html>")
    with pytest.raises(CorruptArchiveError, match="not a readable ZIP"):
        read_all(path)


def test_a_truncated_zip_is_reported_as_corrupt(tmp_path):
    path = write_zip(tmp_path, csv_of("Id", *[str(i) for i in range(10_000)]))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptArchiveError):
        read_all(path)


def test_damage_found_while_reading_is_reported_as_corrupt(tmp_path):
    path = write_zip(
        tmp_path,
        csv_of("Id,Name", *[f"{i},name {i * 7919 % 10007}" for i in range(20_000)]),
    )
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArchiveError, match="damaged"):
        read_all(path)


# ---------------------------------------------------------------- pieces

TEXT_SCHEMA = {
    "type": "object",
    "properties": {name: {"type": ["string", "null"]} for name in ("Id", "A", "B", "C")},
}
CELLS = ["", "plain", "with, comma", 'say "hi"', "two\nlines", "crlf\r\ninside", "東京", '"']


def random_csv(rng: random.Random, rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Id", "A", "B", "C"])
    for i in range(rows):
        writer.writerow([str(i)] + [rng.choice(CELLS) * rng.randint(1, 3) for _ in range(3)])
    return out.getvalue()


def sequential(content: str) -> list[list[str]]:
    """What one csv.reader over the whole file reads: the behaviour pieces must not change."""
    return list(csv.reader(io.StringIO(content, newline="")))


def read_in_pieces(tmp_path: Path, content: str, size: int, monkeypatch) -> list[list[str]]:
    monkeypatch.setattr(pieces_module, "_CHUNK_SIZE", size)
    reader = RecordReader(TEXT_SCHEMA, stream_name="Deals")
    path = write_zip(tmp_path, content)
    with open_result_member(path, MEMBER, max_compression_ratio=10_000) as member:
        return [
            [record[name] or "" for name in ("Id", "A", "B", "C")]
            for record in reader.records(member, source=path.name)
        ]


@pytest.mark.parametrize("size", [1, 7, 64, 1000, 1 << 20])
def test_records_across_piece_boundaries_are_read_as_one_csv_reader_would(
    tmp_path, monkeypatch, size
):
    # Multi-line fields, quotes and commas in every position relative to the pieces' ends.
    content = random_csv(random.Random(size), 400)
    assert read_in_pieces(tmp_path, content, size, monkeypatch) == sequential(content)[1:]


@pytest.mark.parametrize("size", [1, 5, 16, 100])
def test_a_stray_quote_that_misleads_the_cut_loses_no_record(tmp_path, monkeypatch, size):
    # Quotes inside unquoted fields are literal to csv but flip the quote count the cut
    # relies on; every piece then ends inside a multi-line field by that count.
    lines = ["Id,A,B,C"]
    for i in range(60):
        if i % 7 == 3:
            lines.append(f'{i},it"s,"multi\nline",x')
        else:
            lines.append(f'{i},"a\nb",plain,"q""q"')
    content = csv_of(*lines)
    expected = sequential(content)[1:]
    assert len(expected) == 60
    assert read_in_pieces(tmp_path, content, size, monkeypatch) == expected


@pytest.mark.parametrize("size", [1, 9, 1 << 20])
def test_a_file_ending_inside_a_quoted_field_reads_like_csv_does(tmp_path, monkeypatch, size):
    content = csv_of("Id,A,B,C", "1,a,b,c") + '2,x,y,"never\r\nclosed\r\n'
    expected = sequential(content)[1:]
    assert read_in_pieces(tmp_path, content, size, monkeypatch) == expected


@pytest.mark.parametrize("size", [1, 3, 1 << 20])
def test_a_header_cut_by_pieces_and_a_bom(tmp_path, monkeypatch, size):
    content = "\ufeff" + csv_of('Id,"A",B,C', "1,a,b,c", "2,d,e,f")
    assert read_in_pieces(tmp_path, content, size, monkeypatch) == [
        ["1", "a", "b", "c"],
        ["2", "d", "e", "f"],
    ]


def test_invalid_utf8_in_small_pieces_is_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(pieces_module, "_CHUNK_SIZE", 5)
    content = csv_of("Id,Name,Notes").encode() + b"1,caf\xe9,\xff\r\n2,\xe6\x9d\xb1,ok\r\n"
    reader = RecordReader(SCHEMA, stream_name="Deals")
    records = read_all(write_zip(tmp_path, content), reader)
    assert [(r["Name"], r["Notes"]) for r in records] == [("caf\ufffd", "\ufffd"), ("東", "ok")]
    assert reader.stats.bad_bytes == 2


# ---------------------------------------------------------------- streaming


def peak_memory_reading(path: Path) -> int:
    reader = RecordReader(SCHEMA, SCHEMA["properties"])
    tracemalloc.start()
    try:
        with open_result_member(path, MEMBER) as member:
            for record in reader.records(member):
                assert record["Units"] is not None
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_streams_instead_of_loading_the_member(tmp_path):
    def result(rows: int) -> tuple[Path, int]:
        lines = [HEADER] + [
            f"{4150868000000000000 + i},Name {i},note {i * 31 % 977},4150868000000225013,"
            f"{i}.25,{i % 100}.5,{i % 1000},{i * 7},{'true' if i % 2 else 'false'},2021-05-12,"
            f"2021-05-12T17:{i % 60:02d}:29+05:30,EMEA;APAC,{i}.75,Boyle"
            for i in range(rows)
        ]
        directory = tmp_path / str(rows)
        directory.mkdir()
        path = write_zip(directory, csv_of(*lines))
        with zipfile.ZipFile(path) as archive:
            return path, archive.getinfo(MEMBER).file_size

    small, _ = result(20_000)
    large, large_size = result(80_000)
    assert large_size > 12_000_000
    small_peak = peak_memory_reading(small)
    large_peak = peak_memory_reading(large)
    # Memory does not follow the file: four times the rows, about the same peak.
    assert large_peak < 1.25 * small_peak, (small_peak, large_peak)
    assert large_peak < large_size / 4, (large_peak, large_size)


def test_stopping_early_leaves_the_archive_closed_and_counts_what_was_read(tmp_path):
    path = write_zip(tmp_path, csv_of("Id", *[str(i) for i in range(50_000)]))
    reader = RecordReader(SCHEMA)
    with open_result_member(path, MEMBER) as member:
        records = reader.records(member)
        assert next(records)["Id"] == "0"
        records.close()
    assert member.closed
    assert 0 < reader.stats.rows_read < 50_000


@pytest.mark.parametrize("size", [1, 7, 40, 1 << 20])
def test_invalid_utf8_in_a_record_read_again_is_counted_once(tmp_path, monkeypatch, size):
    # A stray quote misleads the cut, so pieces end inside the multi-line fields that hold
    # the bad bytes; those records are read again with the next piece.
    monkeypatch.setattr(pieces_module, "_CHUNK_SIZE", size)
    rows = [b"Id,A,B,C"]
    for i in range(20):
        rows.append(b'%d,it"s,"bad \xff\nbyte \xfe",x' % i)
    content = b"\r\n".join(rows) + b"\r\n"
    reader = RecordReader(TEXT_SCHEMA, stream_name="Deals")
    path = write_zip(tmp_path, content)
    with open_result_member(path, MEMBER, max_compression_ratio=10_000) as member:
        records = list(reader.records(member, source=path.name))
    assert [r["B"] for r in records] == ["bad \ufffd\nbyte \ufffd"] * 20
    assert reader.stats.bad_bytes == 40
