"""Bulk Read CSV as the simulator writes it: cell encodings, RFC-4180, the ZIP around it."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tap_zoho_bulk.simulator.catalog import USERS, Field
from tap_zoho_bulk.simulator.data import Dataset, Snapshot
from tap_zoho_bulk.simulator.export import quote, render

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def page(
    dataset: Dataset,
    module: str,
    columns: Sequence[str] | None = None,
    *,
    criteria: Mapping[str, object] | None = None,
    per_page: int = 10_000,
    page_no: int = 1,
    snapshot: Snapshot | None = None,
    job_id: str = "4150868000005400001",
) -> tuple[list[str], list[list[str]], bytes]:
    """Header, rows and raw CSV bytes of one result page."""
    cols = dataset.resolve_columns(module, columns)
    dest = io.BytesIO()
    dataset.write_page(
        dest,
        job_id=job_id,
        module=module,
        columns=cols,
        criteria=criteria,
        page=page_no,
        per_page=per_page,
        snapshot=snapshot or dataset.snapshot(),
    )
    with zipfile.ZipFile(io.BytesIO(dest.getvalue())) as archive:
        raw = archive.read(f"{job_id}.csv")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    return table[0], table[1:], raw


def parse_cell(field: Field, cell: str, separator: str = ";") -> object:
    """What a careful consumer makes of a cell, written independently of the simulator."""
    if cell == "":
        return None
    kind = field.value_type
    if kind == "boolean":
        assert cell in {"true", "false"}
        return cell == "true"
    if kind in {"integer", "bigint"}:
        return int(cell)
    if kind in {"double", "currency", "percent", "decimal"}:
        places = field.decimal_place or 0
        assert len(cell.partition(".")[2]) == places, (field.api_name, cell)
        return Decimal(cell)
    if kind == "date":
        return date.fromisoformat(cell)
    if kind == "datetime":
        moment = datetime.fromisoformat(cell)
        assert len(cell) == 25, cell  # second precision with a ±HH:MM offset
        return moment
    if kind == "multiselectpicklist":
        return cell.split(separator)
    return cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (4150868000000225013, "4150868000000225013"),
        (Decimal("1234.50"), "1234.50"),
        (Decimal("-0.125"), "-0.125"),
        (Decimal("7E+1").quantize(Decimal("0.01")), "70.00"),
        (date(2024, 2, 29), "2024-02-29"),
        (datetime(2021, 5, 12, 17, 25, 29, tzinfo=IST), "2021-05-12T17:25:29+05:30"),
        (datetime(2021, 5, 12, 3, 0, tzinfo=UTC), "2021-05-12T03:00:00+00:00"),
        (["CRM", "Desk"], "CRM;Desk"),
        ("plain", "plain"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\nlines", '"two\nlines"'),
        ("crlf\r\nlines", '"crlf\r\nlines"'),
        ("🚀 株式会社", "🚀 株式会社"),
    ],
)
def test_cells_render_like_zoho(value: object, cell: str) -> None:
    assert render(value) == cell


def test_multiselect_separator_is_configurable_and_quoted_when_needed() -> None:
    assert render(["A", "B"], "|") == "A|B"
    assert render(["A", "B"], ",") == '"A,B"'
    assert quote("x") == "x"


@pytest.mark.parametrize(
    "module", ["Leads", "Contacts", "Accounts", "Deals", "Tasks", "Shipments", "Visit_Logs"]
)
def test_every_cell_round_trips_to_the_oracle_value(module: str) -> None:
    dataset = Dataset(seed=3, records=300, now=NOW)
    fields = {f.api_name: f for f in dataset.modules[module].exportable_fields()}
    header, rows, _ = page(dataset, module)
    assert header == ["Id", *fields]
    records = list(dataset.records(module))
    assert len(rows) == len(records) == dataset.record_count(module)
    for row, record in zip(rows, records, strict=True):
        assert row[0] == record["Id"]
        for name, cell in zip(header[1:], row[1:], strict=True):
            parsed = parse_cell(fields[name], cell)
            expected = record[name]
            assert parsed == expected, (module, name, cell, expected)
            if isinstance(expected, datetime):
                assert isinstance(parsed, datetime)
                assert parsed.utcoffset() == expected.utcoffset()


def test_requested_columns_come_in_request_order_after_id() -> None:
    dataset = Dataset(seed=3, records=50, now=NOW)
    columns = ["Modified_Time", "Last_Name", "Owner.last_name", "Email_Opt_Out", "Owner"]
    header, rows, _ = page(dataset, "Leads", columns)
    assert header == ["Id", *columns]
    users = {u.id: u for u in USERS}
    for row, record in zip(rows, dataset.records("Leads"), strict=True):
        assert row[2] == (record["Last_Name"] or "")
        assert row[3] == users[str(record["Owner"])].last_name
        assert row[4] == ("true" if record["Email_Opt_Out"] else "false")


def test_lookup_columns_carry_ids_and_dotted_columns_the_target_values() -> None:
    dataset = Dataset(seed=5, records=200, now=NOW)
    accounts = {r["Id"]: r for r in dataset.records("Accounts")}
    columns = ["Account_Name", "Account_Name.Account_Name", "Account_Name.Phone", "Owner.email"]
    _, rows, _ = page(dataset, "Contacts", columns)
    linked = [row for row in rows if row[1]]
    assert 0 < len(linked) < len(rows)  # some contacts have no account
    for row in linked:
        account = accounts[row[1]]
        assert row[2] == account["Account_Name"]
        assert row[3] == (account["Phone"] or "")
        assert row[4] in {u.email for u in USERS}
    for row in rows:
        if not row[1]:
            assert row[2:4] == ["", ""]


def test_csv_holds_the_characters_that_break_naive_parsers() -> None:
    dataset = Dataset(seed=1, records=400, now=NOW)
    _, rows, raw = page(dataset, "Leads")
    cells = [cell for row in rows for cell in row]
    assert any("\n" in c for c in cells)
    assert any("\r\n" in c for c in cells)
    assert any("," in c for c in cells)
    assert any('"' in c for c in cells)
    assert any(any(ord(ch) > 0xFFFF for ch in c) for c in cells)  # emoji
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in c) for c in cells)  # CJK
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\n") > len(rows) + 1  # line breaks inside values
    assert len({len(row) for row in rows}) == 1


def test_datetimes_carry_mixed_offsets_with_second_precision() -> None:
    dataset = Dataset(seed=2, records=700, utc_offset="-07:00", now=NOW)
    _, rows, _ = page(dataset, "Deals", ["Created_Time", "Modified_Time"])
    offsets = {cell[-6:] for row in rows for cell in row[1:]}
    assert "-07:00" in offsets
    assert len(offsets) >= 4
    share = sum(row[1].endswith("-07:00") for row in rows) / len(rows)
    assert 0.75 < share < 0.95  # about six records in seven use the org's own offset


def test_multiselect_separator_applies_to_the_file() -> None:
    dataset = Dataset(seed=1, records=200, multiselect_separator="|", now=NOW)
    _, rows, _ = page(dataset, "Leads", ["Product_Interest"])
    records = list(dataset.records("Leads"))
    multi = [(row[1], r) for row, r in zip(rows, records, strict=True) if r["Product_Interest"]]
    assert any("|" in cell for cell, _ in multi)
    for cell, record in multi:
        assert cell.split("|") == record["Product_Interest"]


def test_zip_holds_exactly_one_deflated_csv_named_after_the_job() -> None:
    dataset = Dataset(seed=1, records=20, now=NOW)
    dest = io.BytesIO()
    dataset.write_page(
        dest,
        job_id="4150868000005400777",
        module="Accounts",
        columns=["Account_Name"],
        criteria=None,
        page=1,
        per_page=100,
        snapshot=dataset.snapshot(),
    )
    with zipfile.ZipFile(dest) as archive:
        (info,) = archive.infolist()
        assert info.filename == "4150868000005400777.csv"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.testzip() is None


def test_equal_data_gives_equal_bytes() -> None:
    first = page(Dataset(seed=9, records=100, now=NOW), "Tasks")[2]
    second = page(Dataset(seed=9, records=100, now=NOW), "Tasks")[2]
    other = page(Dataset(seed=10, records=100, now=NOW), "Tasks")[2]
    assert first == second
    assert first != other


class _Socketish:
    """An unseekable destination, like an HTTP response body: write only."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass


def test_streams_to_an_unseekable_destination() -> None:
    dataset = Dataset(seed=1, records=5000, now=NOW)
    sink = _Socketish()
    info = dataset.write_page(
        sink,
        job_id="1",
        module="Leads",
        columns=dataset.resolve_columns("Leads", None),
        criteria=None,
        page=1,
        per_page=5000,
        snapshot=dataset.snapshot(),
    )
    with zipfile.ZipFile(io.BytesIO(bytes(sink.buffer))) as archive:
        text = archive.read("1.csv").decode()
    assert info.count == 5000
    assert len(list(csv.reader(io.StringIO(text, newline="")))) == 5001


class _HangsUp(_Socketish):
    """A client that disconnects after some bytes."""

    def write(self, data: bytes) -> int:
        if len(self.buffer) > 20_000:
            raise BrokenPipeError("client went away")
        return super().write(data)


def test_a_failing_destination_stops_the_writer() -> None:
    dataset = Dataset(seed=1, records=30_000, now=NOW)
    with pytest.raises(BrokenPipeError):
        dataset.write_page(
            _HangsUp(),
            job_id="1",
            module="Leads",
            columns=dataset.resolve_columns("Leads", None),
            criteria=None,
            page=1,
            per_page=30_000,
            snapshot=dataset.snapshot(),
        )


def test_an_empty_page_is_a_header_only_csv() -> None:
    dataset = Dataset(seed=1, records=10, now=NOW)
    header, rows, raw = page(dataset, "Leads", ["Last_Name"], page_no=2, per_page=10)
    assert header == ["Id", "Last_Name"]
    assert rows == []
    assert raw == b"Id,Last_Name\r\n"
