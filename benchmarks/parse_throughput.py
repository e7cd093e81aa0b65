"""Parse throughput of a Bulk Read result: the bare csv module against the tap's RecordReader.

Run: `.venv/bin/python benchmarks/parse_throughput.py [--rows 200000] [--repeat 3]`

Builds one result ZIP (about 40 columns of every Zoho data type, blanks, Unicode and some
multi-line text, date-times in one user's zone as Zoho writes them) and prints rows/s for:
  bare      csv.reader over the ZIP member, nothing else;
  floor     csv.reader + msgspec RECORD lines (untyped) to a null sink: issue 6's floor;
  reader    RecordReader producing typed dicts;
  emit      RecordReader + msgspec RECORD lines to the same null sink.
Each figure is the best of --repeat runs over the same file, timed in CPU seconds of this
process so that other work on a shared machine does not blur the ratios.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import msgspec

from tap_zoho_bulk.results.archive import open_result_member
from tap_zoho_bulk.results.reader import RecordReader
from tap_zoho_bulk.singer.schema import module_schema

MEMBER = "4150868000005376042.csv"
STREAM = "Deals"


def _field(name: str, data_type: str, **extra: object) -> dict[str, object]:
    return {"api_name": name, "data_type": data_type, **extra}


FIELDS = [
    _field("id", "bigint"),
    _field("Owner", "ownerlookup"),
    _field("Deal_Name", "text"),
    _field("Account_Name", "lookup"),
    _field("Contact_Name", "lookup"),
    _field("Stage", "picklist"),
    _field("Type", "picklist"),
    _field("Lead_Source", "picklist"),
    _field("Description", "textarea"),
    _field("Next_Step", "text"),
    _field("Email", "email"),
    _field("Phone", "phone"),
    _field("Website", "website"),
    _field("Deal_Number", "autonumber"),
    _field("Amount", "currency"),
    _field("Expected_Revenue", "currency"),
    _field("Probability", "integer"),
    _field("Discount", "percent"),
    _field("Exchange_Rate", "decimal"),
    _field("Score", "double"),
    _field("Units", "integer"),
    _field("External_Ref", "bigint"),
    _field("Closing_Date", "date"),
    _field("Start_Date", "date"),
    _field("Created_Time", "datetime"),
    _field("Modified_Time", "datetime"),
    _field("Last_Activity_Time", "datetime"),
    _field("Created_By", "ownerlookup"),
    _field("Modified_By", "ownerlookup"),
    _field("Is_Key_Account", "boolean"),
    _field("Email_Opt_Out", "boolean"),
    _field("Regions", "multiselectpicklist"),
    _field("Interests", "multiselectpicklist"),
    _field("Team", "multiuserlookup"),
    _field("Weighted", "formula", formula={"return_type": "currency"}),
    _field("Days_Open", "formula", formula={"return_type": "integer"}),
    _field("Open_Tasks", "rollup_summary", rollup_summary={"return_type": "integer"}),
    _field("Territory_Label", "text"),
    _field("Mailing_Address", "address"),
]
EXTRA_COLUMNS = ["Owner.last_name", "Account_Name.Account_Name"]


def build_result(path: Path, rows: int, seed: int = 42) -> list[str]:
    """Write the result ZIP; return its header."""
    schema = module_schema(FIELDS, EXTRA_COLUMNS)
    header = list(schema["properties"])
    rnd = random.Random(seed)
    zone = timezone(timedelta(hours=5, minutes=30))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    moments = [
        (start + timedelta(seconds=rnd.randrange(5 * 365 * 86400))).astimezone(zone).isoformat()
        for _ in range(4096)
    ]
    words = ["alpha", "beta gamma", "Zoho Corp", "Ünïcødé Straße", "東京", "a, b and c", 'say "hi"']
    multi_line = "First line of the note.\nSecond line, with a comma.\r\nThird line."

    def text() -> str:
        return rnd.choice(words) if rnd.random() < 0.8 else ""

    def moment() -> str:
        return rnd.choice(moments)

    makers: dict[str, Callable[[], str]] = {
        "Id": lambda: str(4150868000000000000 + rnd.randrange(10**12)),
        "Owner": lambda: "4150868000000225013",
        "Account_Name": lambda: str(4150868000001000000 + rnd.randrange(5000)),
        "Contact_Name": lambda: rnd.choice(["", str(4150868000002000000 + rnd.randrange(9000))]),
        "Stage": lambda: rnd.choice(["Qualification", "Negotiation", "Closed Won", "Closed Lost"]),
        "Type": lambda: rnd.choice(["New Business", "Existing Business", ""]),
        "Lead_Source": lambda: rnd.choice(["Web", "Advertisement", "Partner", ""]),
        "Description": lambda: multi_line if rnd.random() < 0.1 else text(),
        "Email": lambda: f"user{rnd.randrange(10**6)}@example.com",
        "Phone": lambda: f"+1 555 {rnd.randrange(10**4):04d}",
        "Website": lambda: rnd.choice(["https://example.com", ""]),
        "Deal_Number": lambda: f"DL-{rnd.randrange(10**6)}",
        "Amount": lambda: f"{rnd.randrange(10**7)}.{rnd.randrange(100):02d}",
        "Expected_Revenue": lambda: rnd.choice(["", f"{rnd.randrange(10**6)}.50"]),
        "Probability": lambda: str(rnd.choice([10, 20, 50, 75, 90, 100])),
        "Discount": lambda: rnd.choice(["", "5", "12.5"]),
        "Exchange_Rate": lambda: "1.000000000",
        "Score": lambda: f"{rnd.random() * 100:.4f}",
        "Units": lambda: str(rnd.randrange(1000)),
        "External_Ref": lambda: str(rnd.randrange(10**18)),
        "Closing_Date": lambda: f"2024-{rnd.randrange(1, 13):02d}-{rnd.randrange(1, 29):02d}",
        "Start_Date": lambda: rnd.choice(["", "2023-03-01"]),
        "Created_Time": moment,
        "Modified_Time": moment,
        "Last_Activity_Time": lambda: rnd.choice(["", moment()]),
        "Created_By": lambda: "4150868000000225013",
        "Modified_By": lambda: "4150868000000225014",
        "Is_Key_Account": lambda: rnd.choice(["true", "false"]),
        "Email_Opt_Out": lambda: rnd.choice(["true", "false", ""]),
        "Regions": lambda: rnd.choice(["", "EMEA", "EMEA;APAC", "APAC;Americas;EMEA"]),
        "Interests": lambda: rnd.choice(["", "CRM;Analytics"]),
        "Team": lambda: rnd.choice(["", "4150868000000225013;4150868000000225014"]),
        "Weighted": lambda: f"{rnd.randrange(10**6)}.25",
        "Days_Open": lambda: str(rnd.randrange(400)),
        "Open_Tasks": lambda: str(rnd.randrange(5)),
        "Owner.last_name": lambda: rnd.choice(["Boyle", "Ng", "García"]),
    }
    generators = [makers.get(column, text) for column in header]
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(MEMBER, "w") as member,
    ):
        out = io.TextIOWrapper(member, encoding="utf-8", newline="")
        writer = csv.writer(out)
        writer.writerow(header)
        for _ in range(rows):
            writer.writerow([make() for make in generators])
        out.flush()
        out.detach()
    return header


def bare(path: Path) -> int:
    count = 0
    with open_result_member(path, MEMBER) as member:
        rows = csv.reader(io.TextIOWrapper(member, encoding="utf-8", newline=""))
        next(rows)
        for _ in rows:
            count += 1
    return count


def floor(path: Path) -> int:
    encoder = msgspec.json.Encoder(decimal_format="number")
    buffer = bytearray()
    count = 0
    with open(os.devnull, "wb") as sink, open_result_member(path, MEMBER) as member:
        rows = csv.reader(io.TextIOWrapper(member, encoding="utf-8", newline=""))
        header = next(rows)
        for row in rows:
            message = {
                "type": "RECORD",
                "stream": STREAM,
                "record": dict(zip(header, row, strict=True)),
            }
            encoder.encode_into(message, buffer)
            buffer.extend(b"\n")
            sink.write(buffer)
            count += 1
    return count


def _reader() -> RecordReader:
    schema = module_schema(FIELDS, EXTRA_COLUMNS)
    return RecordReader(schema, schema["properties"], stream_name=STREAM)


def reader(path: Path) -> int:
    count = 0
    with open_result_member(path, MEMBER) as member:
        for _ in _reader().records(member):
            count += 1
    return count


def emit(path: Path) -> int:
    encoder = msgspec.json.Encoder(decimal_format="number")
    buffer = bytearray()
    count = 0
    with open(os.devnull, "wb") as sink, open_result_member(path, MEMBER) as member:
        for record in _reader().records(member):
            message = {"type": "RECORD", "stream": STREAM, "record": record}
            encoder.encode_into(message, buffer)
            buffer.extend(b"\n")
            sink.write(buffer)
            count += 1
    return count


def best_rate(run: Callable[[Path], int], path: Path, rows: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        counted = run(path)
        best = min(best, time.process_time() - started)
        if counted != rows:
            raise SystemExit(f"{run.__name__} counted {counted} rows, expected {rows}")
    return rows / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "result.zip"
        header = build_result(path, args.rows)
        with zipfile.ZipFile(path) as archive:
            size = archive.getinfo(MEMBER).file_size
        print(
            f"{args.rows} rows x {len(header)} columns, CSV {size / 1e6:.1f} MB, "
            f"ZIP {path.stat().st_size / 1e6:.1f} MB; best of {args.repeat}"
        )
        rates = {
            name: best_rate(run, path, args.rows, args.repeat)
            for name, run in (("bare", bare), ("floor", floor), ("reader", reader), ("emit", emit))
        }
    print(f"{'run':<8}{'rows/s':>12}{'/ bare':>9}{'/ floor':>9}")
    for name, rate in rates.items():
        print(f"{name:<8}{rate:>12,.0f}{rate / rates['bare']:>9.2f}{rate / rates['floor']:>9.2f}")


if __name__ == "__main__":
    main()
