"""The Dataset: deterministic records, Zoho's data rules, paging, snapshots and change over time."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tap_zoho_bulk.simulator.catalog import USERS
from tap_zoho_bulk.simulator.data import Dataset, PageInfo, Snapshot

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EXPORTABLE = ["Leads", "Contacts", "Accounts", "Deals", "Tasks", "Shipments", "Visit_Logs"]
TYPES = {
    "text": str, "textarea": str, "email": str, "phone": str, "website": str, "picklist": str,
    "autonumber": str, "lookup": str, "ownerlookup": str, "multiselectpicklist": list,
    "integer": int, "bigint": int, "double": Decimal, "currency": Decimal, "percent": Decimal,
    "decimal": Decimal, "boolean": bool, "date": date, "datetime": datetime,
}  # fmt: skip


def read_page(
    dataset: Dataset,
    module: str,
    *,
    page: int,
    per_page: int,
    criteria: Mapping[str, object] | None = None,
    columns: Sequence[str] = ("Modified_Time",),
    snapshot: Snapshot | None = None,
) -> tuple[list[list[str]], PageInfo]:
    dest = io.BytesIO()
    info = dataset.write_page(
        dest,
        job_id="7",
        module=module,
        columns=list(columns),
        criteria=criteria,
        page=page,
        per_page=per_page,
        snapshot=snapshot or dataset.snapshot(),
    )
    with zipfile.ZipFile(dest) as archive:
        text = archive.read("7.csv").decode()
    return list(csv.reader(io.StringIO(text, newline="")))[1:], info


def ids(rows: list[list[str]]) -> list[str]:
    return [row[0] for row in rows]


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = list(Dataset(seed=4, records=200, now=NOW).records("Leads"))
    again = list(Dataset(seed=4, records=200, now=NOW).records("Leads"))
    other = list(Dataset(seed=5, records=200, now=NOW).records("Leads"))
    assert first == again
    assert [r["Id"] for r in first] == [r["Id"] for r in other]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 190


def test_a_record_does_not_depend_on_how_many_records_there_are() -> None:
    small = Dataset(seed=4, records=50, per_module={"Leads": 100}, now=NOW)
    large = Dataset(seed=4, records=50, per_module={"Leads": 5000}, now=NOW)
    assert list(small.records("Leads")) == list(large.records("Leads"))[:100]
    assert small.value("Leads", 77, "Email") == large.value("Leads", 77, "Email")


def test_records_differ_between_modules_and_indices() -> None:
    dataset = Dataset(seed=1, records=300, now=NOW)
    names = [r["Last_Name"] for r in dataset.records("Leads")]
    assert len(set(names)) > 15
    leads = [r["Id"] for r in dataset.records("Leads")]
    contacts = [r["Id"] for r in dataset.records("Contacts")]
    assert not set(leads) & set(contacts)


# -- Zoho's data rules ------------------------------------------------------------------------


@pytest.mark.parametrize("module", EXPORTABLE)
def test_ids_are_unique_19_digit_strings_derived_from_the_index(module: str) -> None:
    dataset = Dataset(seed=1, records=500, now=NOW)
    found = [r["Id"] for r in dataset.records(module)]
    assert all(isinstance(i, str) and re.fullmatch(r"\d{19}", i) for i in found)
    assert len(set(found)) == len(found)
    assert dataset.value(module, 3, "id") == found[3]


@pytest.mark.parametrize("module", EXPORTABLE)
def test_values_have_the_python_type_of_their_field(module: str) -> None:
    dataset = Dataset(seed=1, records=300, now=NOW)
    fields = {f.api_name: f for f in dataset.modules[module].exportable_fields()}
    records = list(dataset.records(module))
    assert set(records[0]) == {"Id", *fields}
    for name, f in fields.items():
        values = [r[name] for r in records]
        assert any(v is not None for v in values), name
        for v in values:
            if v is not None:
                assert isinstance(v, TYPES[f.value_type]), (name, v)
            if isinstance(v, datetime):
                assert v.utcoffset() is not None
                assert v.microsecond == 0
            if isinstance(v, Decimal):
                assert -v.as_tuple().exponent == (f.decimal_place or 0)
        if f.mandatory or f.value_type in {"boolean", "ownerlookup"}:
            assert None not in values, name


def test_times_are_spread_over_two_years_before_now_and_not_in_index_order() -> None:
    dataset = Dataset(seed=1, records=2000, now=NOW)
    created = [r["Created_Time"] for r in dataset.records("Leads")]
    modified = [r["Modified_Time"] for r in dataset.records("Leads")]
    assert all(NOW - timedelta(days=731) < c < NOW for c in created)
    assert all(c <= m < NOW for c, m in zip(created, modified, strict=True))
    assert sum(c == m for c, m in zip(created, modified, strict=True)) > 200  # never edited
    assert created != sorted(created)
    assert max(created) - min(created) > timedelta(days=700)


def test_about_one_record_in_seven_carries_another_offset() -> None:
    dataset = Dataset(seed=1, records=3000, now=NOW)
    offsets = [r["Created_Time"].utcoffset() for r in dataset.records("Leads")]
    own = timedelta(hours=5, minutes=30)
    share = sum(o != own for o in offsets) / len(offsets)
    assert 0.09 < share < 0.2
    assert len(set(offsets)) >= 5
    # so text order and time order disagree somewhere
    records = list(dataset.records("Leads"))
    by_text = sorted(records, key=lambda r: r["Created_Time"].isoformat())
    by_time = sorted(records, key=lambda r: r["Created_Time"])
    assert [r["Id"] for r in by_text] != [r["Id"] for r in by_time]


def test_the_dataset_offset_is_configurable() -> None:
    dataset = Dataset(seed=1, records=200, utc_offset="-08:00", now=NOW)
    offsets = [r["Modified_Time"].utcoffset() for r in dataset.records("Tasks")]
    assert offsets.count(timedelta(hours=-8)) > 150
    with pytest.raises(ValueError, match="offset"):
        Dataset(utc_offset="5:30")


def test_lookups_point_at_existing_records_and_users() -> None:
    dataset = Dataset(seed=1, records=300, now=NOW)
    accounts = {r["Id"] for r in dataset.records("Accounts")}
    contacts = {r["Id"] for r in dataset.records("Contacts")}
    users = {u.id for u in USERS}
    deals = list(dataset.records("Deals"))
    assert {d["Account_Name"] for d in deals} - {None} <= accounts
    assert {d["Contact_Name"] for d in deals} - {None} <= contacts
    assert {d["Owner"] for d in deals} | {d["Created_By"] for d in deals} <= users
    assert len({d["Account_Name"] for d in deals}) > 100


def test_lookups_are_empty_when_the_target_module_has_no_records() -> None:
    dataset = Dataset(seed=1, records=50, per_module={"Accounts": 0}, now=NOW)
    assert {r["Account_Name"] for r in dataset.records("Contacts")} == {None}


def test_dotted_values_follow_the_lookup() -> None:
    dataset = Dataset(seed=1, records=200, now=NOW)
    index, contact = next(
        (n, r) for n, r in enumerate(dataset.records("Contacts")) if r["Account_Name"]
    )
    account = next(r for r in dataset.records("Accounts") if r["Id"] == contact["Account_Name"])
    assert dataset.value("Contacts", index, "Account_Name.Phone") == account["Phone"]
    owner = {u.id: u for u in USERS}[str(contact["Owner"])]
    assert dataset.value("Contacts", index, "Owner.first_name") == owner.first_name


def test_some_records_are_mostly_empty() -> None:
    dataset = Dataset(seed=1, records=1000, now=NOW)
    optional = [
        f.api_name
        for f in dataset.modules["Leads"].exportable_fields()
        if not f.mandatory
        and f.value_type not in {"boolean", "ownerlookup", "autonumber"}
        and f.api_name not in {"Created_Time", "Modified_Time"}
    ]
    sparse = [
        r for r in dataset.records("Leads") if sum(r[n] is None for n in optional) == len(optional)
    ]
    assert 20 < len(sparse) < 120  # about one in sixteen


def test_record_counts_default_and_override() -> None:
    dataset = Dataset(seed=1, records=400, per_module={"Deals": 7}, now=NOW)
    assert dataset.record_count("Leads") == 400
    assert dataset.record_count("Deals") == 7
    assert dataset.record_count("Visit_Logs") == 40  # a small module
    assert dataset.record_count("Home") == 0
    assert len(list(dataset.records("Deals"))) == 7
    with pytest.raises(ValueError, match="Nope"):
        Dataset(per_module={"Nope": 1})
    with pytest.raises(ValueError, match="negative"):
        Dataset(records=-1)


# -- fields and modules in queries -----------------------------------------------------------


def test_columns_default_to_all_exportable_fields() -> None:
    dataset = Dataset(seed=1, records=1, now=NOW)
    everything = [f.api_name for f in dataset.modules["Leads"].exportable_fields()]
    assert dataset.resolve_columns("Leads", None) == everything
    assert dataset.resolve_columns("Leads", []) == everything
    assert dataset.resolve_columns("Leads", ["Email"] * 201) == everything
    assert "Documents" not in everything
    assert dataset.resolve_columns("Leads", ["Email", "id", "Last_Name", "Email"]) == [
        "Email",
        "Last_Name",
    ]


@pytest.mark.parametrize(
    ("module", "fields", "code", "details"),
    [
        ("Nope", None, "MODULE_NOT_AVAILABLE", {"api_name": "Nope"}),
        ("Notes", None, "MODULE_NOT_SUPPORTED", {"api_name": "Notes"}),
        ("Home", None, "MODULE_NOT_SUPPORTED", {"api_name": "Home"}),
        ("Leads", ["Last_Name", "Nope"], "FIELD_NOT_AVAILABLE", {"api_name": "Nope"}),
        ("Leads", ["Owner.nickname"], "FIELD_NOT_AVAILABLE", {"api_name": "Owner.nickname"}),
        ("Contacts", ["$converted"], "FIELD_NOT_AVAILABLE", {"api_name": "$converted"}),
        ("Leads", ["Documents"], "FIELD_NOT_SUPPORTED", {"api_name": "Documents"}),
        ("Leads", ["Related_Products"], "FIELD_NOT_SUPPORTED", {"api_name": "Related_Products"}),
    ],
)
def test_bad_modules_and_fields_are_refused(
    module: str, fields: list[str] | None, code: str, details: dict[str, object]
) -> None:
    refusal = Dataset(seed=1, records=1, now=NOW).validate_query(module, fields, None)
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.details) == (400, code, details)
    assert refusal.body() == {
        "code": code,
        "details": details,
        "message": refusal.message,
        "status": "error",
    }


def test_good_queries_pass_and_over_200_fields_are_not_checked() -> None:
    dataset = Dataset(seed=1, records=1, now=NOW)
    fields = ["Last_Name", "Owner.last_name", "$converted", "Partner_Account.Phone", "id"]
    assert dataset.validate_query("Leads", fields, None) is None
    assert dataset.validate_query("Leads", ["Nope"] * 201, None) is None
    seed_request = ["Last_Name", "Owner", "Owner.last_name", "Account_Name.Account_Name",
                    "Account_Name.Phone", "Lead_Source", "Created_Time"]  # fmt: skip
    assert dataset.validate_query("Contacts", seed_request, None) is None


def test_system_properties_export_like_fields() -> None:
    dataset = Dataset(seed=1, records=100, now=NOW)
    rows, _ = read_page(dataset, "Leads", page=1, per_page=100, columns=["$converted"])
    assert {row[1] for row in rows} == {"true", "false"}


# -- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "per_page"), [(10, 3), (9, 3), (1, 5), (0, 4)])
def test_pages_split_records_in_index_order(total: int, per_page: int) -> None:
    dataset = Dataset(seed=1, records=total, now=NOW)
    everything = [r["Id"] for r in dataset.records("Accounts")]
    seen: list[str] = []
    page = 1
    while True:
        rows, info = read_page(dataset, "Accounts", page=page, per_page=per_page)
        snap = dataset.snapshot()
        counted = dataset.count_page(
            module="Accounts", criteria=None, page=page, per_page=per_page, snapshot=snap
        )
        assert counted == info
        assert info.count == len(rows) <= per_page
        seen += ids(rows)
        if not info.more_records:
            break
        assert info.count == per_page
        page += 1
    assert seen == everything
    assert page == max(1, -(-total // per_page))
    beyond, info = read_page(dataset, "Accounts", page=page + 1, per_page=per_page)
    assert (beyond, info) == ([], PageInfo(0, False))


def window(start: str, end: str) -> dict[str, object]:
    return {
        "group_operator": "and",
        "group": [
            {"api_name": "Modified_Time", "comparator": "greater_equal", "value": start},
            {"field": {"api_name": "Modified_Time"}, "comparator": "less_than", "value": end},
        ],
    }


def test_pages_with_criteria_hold_the_matching_records_in_order() -> None:
    dataset = Dataset(seed=1, records=10_000, now=NOW)
    criteria = window("2024-09-01T00:00:00+05:30", "2025-01-01T00:00:00-08:00")
    low = datetime(2024, 9, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    high = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-8)))
    expected = [r["Id"] for r in dataset.records("Leads") if low <= r["Modified_Time"] < high]
    per_page = len(expected) // 3 + 1
    snap = dataset.snapshot()
    # Ask for the last page first: paging must not depend on earlier requests.
    third, info3 = read_page(dataset, "Leads", page=3, per_page=per_page, criteria=criteria)
    first, info1 = read_page(dataset, "Leads", page=1, per_page=per_page, criteria=criteria)
    second, info2 = read_page(dataset, "Leads", page=2, per_page=per_page, criteria=criteria)
    assert ids(first) + ids(second) + ids(third) == expected
    assert (info1.more_records, info2.more_records, info3.more_records) == (True, True, False)
    for page, info in ((1, info1), (2, info2), (3, info3)):
        fresh = Dataset(seed=1, records=10_000, now=NOW)
        assert (
            fresh.count_page(
                module="Leads", criteria=criteria, page=page, per_page=per_page, snapshot=snap
            )
            == info
        )


def test_more_records_is_false_when_the_last_match_ends_a_page() -> None:
    dataset = Dataset(seed=1, records=2000, now=NOW)
    criteria = {"api_name": "Lead_Source", "comparator": "equal", "value": "Chat"}
    matching = sum(r["Lead_Source"] == "Chat" for r in dataset.records("Leads"))
    rows, info = read_page(dataset, "Leads", page=1, per_page=matching, criteria=criteria)
    assert (len(rows), info) == (matching, PageInfo(matching, False))
    rows, info = read_page(dataset, "Leads", page=1, per_page=matching - 1, criteria=criteria)
    assert info == PageInfo(matching - 1, True)


# -- change over time --------------------------------------------------------------------------


def test_added_records_are_created_inside_the_mutation_interval() -> None:
    dataset = Dataset(seed=1, records=100, now=NOW)
    before = dataset.snapshot(at=NOW)
    later = NOW + timedelta(hours=1)
    done = dataset.mutate(now=later, add={"Leads": 30, "Deals": 5})
    assert done == {"Leads": {"added": 30, "modified": 0}, "Deals": {"added": 5, "modified": 0}}
    assert dataset.record_count("Leads") == 130
    assert dataset.record_count("Leads", before) == 100
    new = list(dataset.records("Leads"))[100:]
    assert len({r["Id"] for r in new}) == 30
    for r in new:
        assert NOW < r["Created_Time"] <= later
        assert r["Created_Time"] <= r["Modified_Time"] <= later
    assert len({r["Created_Time"] for r in new}) > 20
    dataset.snapshot(at=later)
    even_later = later + timedelta(minutes=5)
    dataset.mutate(now=even_later, add={"Leads": 10})
    newest = list(dataset.records("Leads"))[130:]
    assert all(later < r["Created_Time"] <= even_later for r in newest)


def test_modified_records_move_their_modified_time_and_change_some_values() -> None:
    dataset = Dataset(seed=1, records=200, now=NOW)
    before = dataset.snapshot()
    old = list(dataset.records("Contacts"))
    later = NOW + timedelta(days=1)
    done = dataset.mutate(now=later, modify={"Contacts": 25})
    assert done == {"Contacts": {"added": 0, "modified": 25}}
    new = list(dataset.records("Contacts"))
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 25
    for a, b in changed:
        assert a["Id"] == b["Id"]
        assert a["Created_Time"] == b["Created_Time"]
        assert NOW < b["Modified_Time"] <= later
        assert b["Modified_Time"] > a["Modified_Time"]
    values_changed = sum(any(a[k] != b[k] for k in a if k != "Modified_Time") for a, b in changed)
    assert values_changed > 20
    assert list(dataset.records("Contacts", before)) == old


def test_snapshots_freeze_pages_and_dotted_columns() -> None:
    dataset = Dataset(seed=1, records=300, now=NOW)
    snap = dataset.snapshot()
    columns = ("Account_Name.Account_Name", "Account_Name.Modified_Time", "Modified_Time")
    rows_before, _ = read_page(dataset, "Contacts", page=1, per_page=300, columns=columns)
    dataset.mutate(now=NOW + timedelta(days=2), add=50, modify=100)
    rows_after, info = read_page(
        dataset, "Contacts", page=1, per_page=500, columns=columns, snapshot=snap
    )
    assert rows_after == rows_before
    assert info == PageInfo(300, False)
    current, _ = read_page(dataset, "Contacts", page=1, per_page=500, columns=columns)
    assert len(current) == 350
    assert current[:300] != rows_before


def test_an_int_mutation_applies_to_every_exportable_module() -> None:
    dataset = Dataset(seed=1, records=100, now=NOW)
    done = dataset.mutate(now=NOW + timedelta(minutes=1), add=2, modify=3)
    assert set(done) == set(EXPORTABLE)
    assert all(d == {"added": 2, "modified": 3} for d in done.values())
    assert dataset.record_count("Notes") == 100
    with pytest.raises(ValueError, match="Nope"):
        dataset.mutate(now=NOW + timedelta(minutes=2), add={"Nope": 1})


def test_mutations_in_one_second_share_it_and_never_stamp_the_future() -> None:
    dataset = Dataset(seed=1, records=10, now=NOW)
    moment = NOW + timedelta(minutes=1)
    dataset.mutate(now=moment, add={"Tasks": 5})
    dataset.mutate(now=moment + timedelta(microseconds=900_000), add={"Tasks": 5})
    dataset.mutate(now=NOW, add={"Tasks": 5})  # a clock going back does not rewind the data
    created = [r["Created_Time"] for r in dataset.records("Tasks")][10:]
    assert all(NOW < c <= moment for c in created[:5])
    assert created[5:] == [moment] * 10
    assert dataset.snapshot().as_of == moment


def test_records_added_in_the_construction_second_mix_with_base_records() -> None:
    dataset = Dataset(seed=1, records=30, now=NOW)
    dataset.snapshot()
    dataset.mutate(now=NOW + timedelta(microseconds=500), add={"Deals": 3}, modify={"Deals": 2})
    deals = list(dataset.records("Deals"))
    assert [r["Created_Time"] for r in deals[30:]] == [NOW] * 3
    assert sum(r["Modified_Time"] == NOW for r in deals) == 5
    criteria = {
        "api_name": "Modified_Time",
        "comparator": "greater_equal",
        "value": NOW.isoformat(),
    }
    snapshot = dataset.snapshot()
    assert dataset.count_page(
        module="Deals", criteria=criteria, page=1, per_page=10, snapshot=snapshot
    ) == PageInfo(5, False)


def test_records_are_never_stamped_before_the_last_read() -> None:
    dataset = Dataset(seed=1, records=10, now=NOW)
    half = NOW + timedelta(minutes=30)
    hour = NOW + timedelta(hours=1)
    dataset.snapshot(at=half)
    dataset.snapshot(at=NOW)  # an older read does not widen the interval again
    dataset.mutate(now=hour, add={"Accounts": 20}, modify={"Accounts": 5})
    accounts = list(dataset.records("Accounts"))
    assert all(half < r["Created_Time"] <= hour for r in accounts[10:])
    assert sum(half < r["Modified_Time"] <= hour for r in accounts) == 25
    # A read whose time is unknown may have happened a moment ago.
    dataset.snapshot()
    later = hour + timedelta(hours=1)
    dataset.mutate(now=later, add={"Accounts": 5}, modify={"Accounts": 5})
    accounts = list(dataset.records("Accounts"))
    assert [r["Created_Time"] for r in accounts[30:]] == [later] * 5
    assert sum(r["Modified_Time"] == later for r in accounts) == 10
    # The oracle's own reads do not count as reads of the data.
    dataset.records("Accounts")
    dataset.record_count("Accounts")
    last = later + timedelta(hours=1)
    dataset.mutate(now=last, add={"Accounts": 30})
    created = [r["Created_Time"] for r in dataset.records("Accounts")][35:]
    assert all(later < c <= last for c in created)
    assert len(set(created)) > 20


def test_nothing_to_do_changes_nothing() -> None:
    dataset = Dataset(seed=1, records=10, now=NOW)
    snap = dataset.snapshot()
    assert dataset.mutate(now=NOW + timedelta(hours=1)) == {}
    assert dataset.snapshot() == snap


def test_records_can_be_modified_again_and_the_latest_change_wins() -> None:
    dataset = Dataset(seed=1, records=3, now=NOW)
    first = NOW + timedelta(hours=1)
    second = NOW + timedelta(hours=2)
    dataset.mutate(now=first, modify={"Accounts": 3})
    middle = dataset.snapshot()
    dataset.mutate(now=second, modify={"Accounts": 3})
    for r in dataset.records("Accounts"):
        assert first < r["Modified_Time"] <= second
    for r in dataset.records("Accounts", middle):
        assert NOW < r["Modified_Time"] <= first


def test_pages_and_times_are_checked() -> None:
    dataset = Dataset(seed=1, records=10, now=NOW)
    for page, per_page in ((0, 5), (1, 0)):
        with pytest.raises(ValueError, match="at least 1"):
            dataset.count_page(
                module="Leads", criteria=None, page=page, per_page=per_page,
                snapshot=dataset.snapshot(),
            )  # fmt: skip
    with pytest.raises(ValueError, match="aware"):
        dataset.mutate(now=datetime(2026, 1, 1), add=1)
    with pytest.raises(ValueError, match="aware"):
        Dataset(now=datetime(2026, 1, 1))
