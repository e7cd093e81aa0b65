"""Criteria: Zoho's validation errors, and evaluation checked against a brute-force filter.

The brute-force side below is written from the reference's rules (§4.3) and the semantics
documented in criteria.py, on the typed oracle records, without using the simulator's criteria
code; random criteria trees from a seeded RNG exercise every comparator of every field kind.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tap_zoho_bulk.simulator.catalog import USERS
from tap_zoho_bulk.simulator.data import Dataset

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OWN_OFFSET = timezone(timedelta(hours=5, minutes=30))
EMPTY = "${EMPTY}"
NUMBER_COMPARATORS = ["equal", "not_equal", "in", "not_in", "less_than", "less_equal",
                      "greater_than", "greater_equal"]  # fmt: skip
TEXT_COMPARATORS = ["equal", "not_equal", "in", "not_in", "contains", "not_contains",
                    "starts_with", "ends_with"]  # fmt: skip
TIME_COMPARATORS = ["equal", "not_equal", "in", "not_in", "between", "not_between",
                    "greater_than", "greater_equal", "less_than", "less_equal"]  # fmt: skip
LOOKUP_COMPARATORS = ["equal", "not_equal", "in", "not_in"]
KINDS = {
    **dict.fromkeys(["integer", "bigint", "double", "currency", "percent", "decimal"], "number"),
    **dict.fromkeys(["text", "email", "phone", "website", "picklist", "autonumber"], "text"),
    **dict.fromkeys(["lookup", "ownerlookup"], "lookup"),
    "multiselectpicklist": "multi", "date": "date", "datetime": "datetime", "boolean": "boolean",
}  # fmt: skip
ALLOWED = {
    "number": NUMBER_COMPARATORS,
    "text": TEXT_COMPARATORS,
    "multi": TEXT_COMPARATORS,
    "date": TIME_COMPARATORS,
    "datetime": TIME_COMPARATORS,
    "boolean": ["equal"],
    "lookup": LOOKUP_COMPARATORS,
}
DOTTED = {  # Leads paths through a lookup, and the kind of what they reach
    "Owner.last_name": "text",
    "Owner.email": "text",
    "Partner_Account.Account_Name": "text",
    "Partner_Account.Employees": "number",
    "Partner_Account.Modified_Time": "datetime",
    "Partner_Account.Account_Type": "text",
}


# -- helpers -----------------------------------------------------------------------------------


def matching_ids(
    dataset: Dataset, module: str, criteria: Mapping[str, object], *, per_page: int = 100_000
) -> list[str]:
    dest = io.BytesIO()
    snapshot = dataset.snapshot()
    info = dataset.write_page(
        dest,
        job_id="9",
        module=module,
        columns=["Last_Name"] if module == "Leads" else ["Owner"],
        criteria=criteria,
        page=1,
        per_page=per_page,
        snapshot=snapshot,
    )
    with zipfile.ZipFile(dest) as archive:
        rows = list(csv.reader(io.StringIO(archive.read("9.csv").decode(), newline="")))[1:]
    counted = dataset.count_page(
        module=module, criteria=criteria, page=1, per_page=per_page, snapshot=snapshot
    )
    assert counted == info
    assert info.count == len(rows)
    return [row[0] for row in rows]


class BruteForce:
    """Evaluates criteria on typed records the slow, obvious way."""

    def __init__(self, dataset: Dataset, module: str) -> None:
        self.dataset = dataset
        self.module = dataset.modules[module]
        self.records = list(dataset.records(module))
        self.accounts = {r["Id"]: r for r in dataset.records("Accounts")}
        self.users = {u.id: u for u in USERS}

    def select(self, criteria: Mapping[str, object]) -> list[str]:
        return [str(r["Id"]) for r in self.records if self.holds(criteria, r)]

    def holds(self, node: Mapping[str, object], record: Mapping[str, object]) -> bool:
        if "group" in node:
            results = [self.holds(m, record) for m in node["group"]]
            return all(results) if str(node["group_operator"]).lower() == "and" else any(results)
        ref = node.get("field")
        name = str(ref["api_name"] if isinstance(ref, Mapping) else node["api_name"])
        kind, actual = self.lookup(name, record)
        return compare(kind, str(node["comparator"]), actual, node["value"])

    def lookup(self, name: str, record: Mapping[str, object]) -> tuple[str, object]:
        head, _, tail = name.partition(".")
        if not tail:
            field = self.module.field(name)
            assert field is not None
            return KINDS[field.value_type], record["Id" if name == "id" else name]
        target = record[head]
        if head == "Owner":
            return "text", None if target is None else getattr(self.users[str(target)], tail)
        account = None if target is None else self.accounts[target]
        return DOTTED[name], None if account is None else account[tail]


def compare(kind: str, comparator: str, actual: object, value: object) -> bool:
    """One condition, straight from the documented rules."""
    if comparator.startswith("not_"):
        return not compare(kind, comparator[4:], actual, value)
    if comparator == "in":
        assert isinstance(value, list)
        if kind == "multi" and actual is not None:
            assert isinstance(actual, list)
            wanted = {str(v).casefold() for v in value}
            return any(a.casefold() in wanted for a in actual)
        return any(compare(kind, "equal", actual, v) for v in value)
    if value == EMPTY:
        return actual is None
    if actual is None:
        return False
    if comparator == "between":
        assert isinstance(value, list)
        low, high = (operand(kind, v) for v in value)
        return low <= normal(kind, actual) <= high
    have, want = normal(kind, actual), operand(kind, value)
    tests: dict[str, Callable[[object, object], bool]] = {
        "equal": lambda a, b: a == b,
        "less_than": lambda a, b: a < b,
        "less_equal": lambda a, b: a <= b,
        "greater_than": lambda a, b: a > b,
        "greater_equal": lambda a, b: a >= b,
        "contains": lambda a, b: str(b) in str(a),
        "starts_with": lambda a, b: str(a).startswith(str(b)),
        "ends_with": lambda a, b: str(a).endswith(str(b)),
    }
    return tests[comparator](have, want)


def normal(kind: str, actual: object) -> object:
    if kind == "multi":
        assert isinstance(actual, list)
        return ";".join(actual).casefold()
    if kind == "text":
        return str(actual).casefold()
    if kind == "number":
        return Decimal(str(actual))
    return actual


def operand(kind: str, value: object) -> object:
    if kind in {"text", "multi"}:
        return str(value).casefold()
    if kind == "number":
        return Decimal(str(value))
    if kind == "date":
        return date.fromisoformat(str(value))
    if kind == "datetime":
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=OWN_OFFSET)
    if kind == "lookup":
        return str(value)
    return value


# -- random criteria ---------------------------------------------------------------------------


class RandomCriteria:
    """Criteria trees over Leads whose values come from real records, so they select something."""

    def __init__(self, brute: BruteForce, rng: random.Random) -> None:
        self.brute = brute
        self.rng = rng
        self.paths = [
            f.api_name for f in brute.module.exportable_fields() if f.data_type != "textarea"
        ] + ["id", *DOTTED]

    def tree(self, depth: int = 0) -> dict[str, object]:
        if depth >= 2 or self.rng.random() < 0.35:
            return self.leaf()
        members = [self.tree(depth + 1) for _ in range(self.rng.randint(1, 4))]
        operator = self.rng.choice(["and", "or", "AND", "Or"])
        return {"group_operator": operator, "group": members}

    def leaf(self) -> dict[str, object]:
        path = self.rng.choice(self.paths)
        kind, _ = self.brute.lookup(path, self.brute.records[0])
        comparator = self.rng.choice(ALLOWED[kind])
        value = self.value(path, kind, comparator)
        if self.rng.random() < 0.5:
            return {"field": {"api_name": path}, "comparator": comparator, "value": value}
        return {"api_name": path, "comparator": comparator, "value": value}

    def sample(self, path: str) -> object:
        """A value of `path` from a random record (None allowed)."""
        record = self.rng.choice(self.brute.records)
        return self.brute.lookup(path, record)[1]

    def present(self, path: str) -> object:
        for _ in range(50):
            found = self.sample(path)
            if found is not None:
                return found
        return self.sample(path)

    def value(self, path: str, kind: str, comparator: str) -> object:
        rng = self.rng
        if kind == "boolean":
            return rng.random() < 0.5
        if comparator in {"in", "not_in"}:
            values = [self.encode(kind, self.present(path)) for _ in range(rng.randint(1, 3))]
            return [*values, EMPTY] if rng.random() < 0.2 else values
        if comparator in {"between", "not_between"}:
            pair = sorted([self.present(path), self.present(path)])
            return [self.encode(kind, v) for v in pair]
        if comparator in {"equal", "not_equal"} and rng.random() < 0.15:
            return EMPTY
        found = self.present(path)
        if comparator in {"contains", "starts_with", "ends_with"}:
            text = self.encode(kind, found)
            assert isinstance(text, str)
            start = rng.randrange(len(text)) if comparator == "contains" else 0
            piece = text[start : start + rng.randint(1, 4)]
            if comparator == "ends_with":
                piece = text[-rng.randint(1, 4) :]
            return piece.upper() if rng.random() < 0.3 else piece
        return self.encode(kind, found)

    def encode(self, kind: str, value: object) -> object:
        """How a client would write `value` in JSON."""
        rng = self.rng
        if value is None:
            return EMPTY
        if isinstance(value, datetime):
            zone = rng.choice([None, UTC, timezone(timedelta(hours=-8)), "Z"])
            if zone is None:
                return value.astimezone(OWN_OFFSET).replace(tzinfo=None).isoformat()
            if zone == "Z":
                return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
            return value.astimezone(zone).isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return rng.choice([float(value), str(value)])
        if isinstance(value, list):
            return ";".join(value) if rng.random() < 0.6 else rng.choice(value)
        if kind == "text" and rng.random() < 0.2:
            return str(value).upper()
        if kind == "lookup" and rng.random() < 0.3:
            return int(str(value))
        return value


@pytest.fixture(scope="module")
def leads() -> tuple[Dataset, BruteForce]:
    dataset = Dataset(seed=11, records=400, per_module={"Accounts": 60}, now=NOW)
    return dataset, BruteForce(dataset, "Leads")


def test_random_criteria_select_what_a_brute_force_filter_selects(
    leads: tuple[Dataset, BruteForce],
) -> None:
    dataset, brute = leads
    generator = RandomCriteria(brute, random.Random(2024))
    informative = 0
    comparators: set[tuple[str, str]] = set()
    for _ in range(400):
        criteria = generator.tree()
        assert dataset.validate_query("Leads", None, criteria) is None, criteria
        expected = brute.select(criteria)
        assert matching_ids(dataset, "Leads", criteria) == expected, criteria
        informative += 0 < len(expected) < len(brute.records)
        comparators |= set(_comparators(criteria, brute))
    assert informative > 200
    every = {(kind, c) for kind, allowed in ALLOWED.items() for c in allowed}
    assert comparators == every


def _comparators(node: Mapping[str, object], brute: BruteForce) -> list[tuple[str, str]]:
    if "group" in node:
        return [p for m in node["group"] for p in _comparators(m, brute)]
    ref = node.get("field")
    name = str(ref["api_name"] if isinstance(ref, Mapping) else node["api_name"])
    return [(brute.lookup(name, brute.records[0])[0], str(node["comparator"]))]


def test_paged_criteria_results_concatenate_to_the_whole_selection(
    leads: tuple[Dataset, BruteForce],
) -> None:
    dataset, brute = leads
    generator = RandomCriteria(brute, random.Random(7))
    for _ in range(20):
        criteria = generator.tree()
        expected = brute.select(criteria)
        per_page = max(1, len(expected) // 3)
        collected: list[str] = []
        page = 1
        while True:
            dest = io.BytesIO()
            info = dataset.write_page(
                dest, job_id="p", module="Leads", columns=[], criteria=criteria, page=page,
                per_page=per_page, snapshot=dataset.snapshot(),
            )  # fmt: skip
            with zipfile.ZipFile(dest) as archive:
                text = archive.read("p.csv").decode()
            rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
            assert len(rows) == info.count <= per_page
            collected += [row[0] for row in rows]
            if not info.more_records:
                break
            page += 1
        assert collected == expected


# -- specific semantics ------------------------------------------------------------------------


def test_datetimes_compare_as_instants_whatever_their_offsets() -> None:
    dataset = Dataset(seed=3, records=500, now=NOW)
    records = list(dataset.records("Deals"))
    other = next(r for r in records if r["Created_Time"].utcoffset() != timedelta(hours=5.5))
    moment: datetime = other["Created_Time"]
    as_utc = moment.astimezone(UTC).isoformat()
    as_tokyo = moment.astimezone(timezone(timedelta(hours=9))).isoformat()
    assert as_utc != as_tokyo
    for text in (as_utc, as_tokyo, moment.isoformat()):
        equal = {"api_name": "Created_Time", "comparator": "equal", "value": text}
        assert other["Id"] in matching_ids(dataset, "Deals", equal)
    between = {
        "api_name": "Created_Time",
        "comparator": "between",
        "value": [
            (moment - timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-10))).isoformat(),
            (moment + timedelta(seconds=1)).astimezone(UTC).isoformat(),
        ],
    }
    expected = [
        r["Id"]
        for r in records
        if moment - timedelta(seconds=1) <= r["Created_Time"] <= moment + timedelta(seconds=1)
    ]
    assert matching_ids(dataset, "Deals", between) == expected


def test_values_without_offset_are_read_in_the_org_offset_and_z_means_utc() -> None:
    dataset = Dataset(seed=3, records=300, utc_offset="-05:00", now=NOW)
    record = next(iter(dataset.records("Tasks")))
    moment: datetime = record["Modified_Time"]
    local = moment.astimezone(timezone(timedelta(hours=-5))).replace(tzinfo=None).isoformat()
    zulu = moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    for text in (local, zulu):
        criteria = {"api_name": "Modified_Time", "comparator": "equal", "value": text}
        assert record["Id"] in matching_ids(dataset, "Tasks", criteria)


def test_text_ignores_case_and_negations_include_empty_values() -> None:
    dataset = Dataset(seed=3, records=300, now=NOW)
    records = list(dataset.records("Leads"))
    smiths = [r["Id"] for r in records if r["Last_Name"] == "Smith"]
    shouting = {"api_name": "Last_Name", "comparator": "equal", "value": "SMITH"}
    assert smiths
    assert matching_ids(dataset, "Leads", shouting) == smiths
    no_city = [r["Id"] for r in records if r["City"] is None]
    not_tokyo = matching_ids(
        dataset, "Leads", {"api_name": "City", "comparator": "not_equal", "value": "東京"}
    )
    assert no_city
    assert set(no_city) <= set(not_tokyo)
    empty = {"api_name": "City", "comparator": "equal", "value": EMPTY}
    assert matching_ids(dataset, "Leads", empty) == no_city
    less = {"api_name": "No_of_Employees", "comparator": "less_than", "value": 10**9}
    assert len(matching_ids(dataset, "Leads", less)) == sum(
        r["No_of_Employees"] is not None for r in records
    )


def test_multi_select_in_asks_for_any_selected_value() -> None:
    dataset = Dataset(seed=3, records=300, now=NOW)
    records = list(dataset.records("Leads"))
    criteria = {"api_name": "Product_Interest", "comparator": "in", "value": ["Desk", "Books"]}
    expected = [r["Id"] for r in records if {"Desk", "Books"} & set(r["Product_Interest"] or [])]
    assert 0 < len(expected) < len(records)
    assert matching_ids(dataset, "Leads", criteria) == expected


def test_system_properties_and_lookup_ids_filter() -> None:
    dataset = Dataset(seed=3, records=200, now=NOW)
    converted = [
        f"{dataset.value('Leads', n, 'id')}"
        for n in range(200)
        if dataset.value("Leads", n, "$converted") is True
    ]
    criteria = {"field": {"api_name": "$converted"}, "comparator": "equal", "value": True}
    assert 0 < len(converted) < 200
    assert matching_ids(dataset, "Leads", criteria) == converted
    owner = USERS[2].id
    mine = [r["Id"] for r in dataset.records("Contacts") if r["Owner"] == owner]
    by_id = {"api_name": "Owner", "comparator": "equal", "value": int(owner)}
    assert matching_ids(dataset, "Contacts", by_id) == mine
    by_name = {"api_name": "Owner.last_name", "comparator": "equal", "value": USERS[2].last_name}
    assert matching_ids(dataset, "Contacts", by_name) == mine


def test_ids_compare_as_numbers_directly_and_through_a_lookup() -> None:
    dataset = Dataset(seed=3, records=200, now=NOW)
    leads = list(dataset.records("Leads"))
    partner = next(str(r["Partner_Account"]) for r in leads if r["Partner_Account"])
    through = {"api_name": "Partner_Account.id", "comparator": "equal", "value": partner}
    assert matching_ids(dataset, "Leads", through) == [
        r["Id"] for r in leads if r["Partner_Account"] == partner
    ]
    middle = str(leads[100]["Id"])
    later = {"api_name": "id", "comparator": "greater_equal", "value": middle}
    assert matching_ids(dataset, "Leads", later) == [r["Id"] for r in leads[100:]]
    above = {"api_name": "Partner_Account.id", "comparator": "greater_than", "value": 0}
    assert matching_ids(dataset, "Leads", above) == [r["Id"] for r in leads if r["Partner_Account"]]


def test_criteria_see_the_snapshot_the_job_took() -> None:
    dataset = Dataset(seed=3, records=100, now=NOW)
    snapshot = dataset.snapshot()
    criteria = {"api_name": "Modified_Time", "comparator": "greater_than", "value": NOW.isoformat()}
    assert matching_ids(dataset, "Accounts", criteria) == []
    dataset.mutate(now=NOW + timedelta(hours=1), add={"Accounts": 4}, modify={"Accounts": 6})
    assert len(matching_ids(dataset, "Accounts", criteria)) == 10
    info = dataset.count_page(
        module="Accounts", criteria=criteria, page=1, per_page=50, snapshot=snapshot
    )
    assert (info.count, info.more_records) == (0, False)


# -- validation --------------------------------------------------------------------------------


def leaf(name: str, comparator: str, value: object) -> dict[str, object]:
    return {"api_name": name, "comparator": comparator, "value": value}


@pytest.mark.parametrize(
    ("criteria", "code", "details"),
    [
        (
            {"group_operator": "and", "group": [leaf("Last_Name", "equal", "x")] * 26},
            "CRITERIA_LIMIT_EXCEEDED",
            {"limit": 25},
        ),
        (
            {
                "group_operator": "or",
                "group": [
                    {"group_operator": "and", "group": [leaf("Last_Name", "equal", "x")] * 13},
                    {"group_operator": "and", "group": [leaf("City", "equal", "x")] * 13},
                ],
            },
            "CRITERIA_LIMIT_EXCEEDED",
            {"limit": 25},
        ),
        (leaf("Nope", "equal", "x"), "FIELD_IN_CRITERIA_NOT_AVAILABLE", {"api_name": "Nope"}),
        (
            leaf("Owner.nickname", "equal", "x"),
            "FIELD_IN_CRITERIA_NOT_AVAILABLE",
            {"api_name": "Owner.nickname"},
        ),
        (
            leaf("Description", "contains", "x"),
            "FIELD_IN_CRITERIA_NOT_SUPPORTED",
            {"api_name": "Description"},
        ),
        (
            leaf("Documents", "equal", "x"),
            "FIELD_IN_CRITERIA_NOT_SUPPORTED",
            {"api_name": "Documents"},
        ),
        (
            leaf("Related_Products", "equal", "1"),
            "FIELD_IN_CRITERIA_NOT_SUPPORTED",
            {"api_name": "Related_Products"},
        ),
        (
            leaf("Modified_Time", "contains", "2024"),
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            {"comparator": "contains", "api_name": "Modified_Time", "supported": TIME_COMPARATORS},
        ),
        (
            leaf("Lead_Source", "greater_than", "A"),
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            {
                "comparator": "greater_than",
                "api_name": "Lead_Source",
                "supported": TEXT_COMPARATORS,
            },
        ),
        (
            leaf("Email_Opt_Out", "not_equal", True),
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            {"comparator": "not_equal", "api_name": "Email_Opt_Out", "supported": ["equal"]},
        ),
        (
            leaf("Partner_Account", "contains", "415"),
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            {
                "comparator": "contains",
                "api_name": "Partner_Account",
                "supported": LOOKUP_COMPARATORS,
            },
        ),
        (
            leaf("Annual_Revenue", "like", 5),
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            {"comparator": "like", "api_name": "Annual_Revenue", "supported": NUMBER_COMPARATORS},
        ),
        (
            leaf("Modified_Time", "greater_than", "2024-01-01T10:00:00.123+05:30"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Modified_Time", "expected_data_type": "datetime"},
        ),
        (
            leaf("Created_Time", "between", ["2024-01-01T00:00:00Z", "yesterday"]),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Created_Time", "expected_data_type": "datetime"},
        ),
        (
            leaf("Created_Time", "equal", "2024-02-30T00:00:00+05:30"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Created_Time", "expected_data_type": "datetime"},
        ),
        (
            leaf("Email_Opt_Out", "equal", "true"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Email_Opt_Out", "expected_data_type": "boolean"},
        ),
        (
            leaf("No_of_Employees", "equal", "many"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "No_of_Employees", "expected_data_type": "integer"},
        ),
        (
            leaf("External_Ref", "equal", "1" * 20),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "External_Ref", "expected_data_type": "bigint"},
        ),
        (
            leaf("Partner_Account", "equal", "acme"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Partner_Account", "expected_data_type": "lookup"},
        ),
        (
            leaf("Next_Follow_Up", "equal", "01-01-2025"),
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Next_Follow_Up", "expected_data_type": "date"},
        ),
        (
            {"group_operator": "xor", "group": [leaf("City", "equal", "x")]},
            "GROUP_OPERATOR_NOT_SUPPORTED",
            {"group_operator": "xor"},
        ),
        (
            leaf("City", "in", "Austin"),
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "City", "comparator": "in"},
        ),
        (
            leaf("Created_Time", "between", ["2024-01-01T00:00:00Z"]),
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Created_Time", "comparator": "between"},
        ),
        (
            leaf("Annual_Revenue", "greater_than", EMPTY),
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            {"api_name": "Annual_Revenue", "comparator": "greater_than"},
        ),
        (
            leaf("City", "equal", "x" * 256),
            "VALUE_LIMIT_EXCEEDED_IN_CRITERIA",
            {"api_name": "City"},
        ),
        ({"api_name": "City", "value": "x"}, "INVALID_CRITERIA", {"api_name": "City"}),
        ({"group_operator": "and", "group": []}, "INVALID_CRITERIA", {}),
        ({"group": [leaf("City", "equal", "x")]}, "INVALID_CRITERIA", {}),
        ({"comparator": "equal", "value": "x"}, "INVALID_CRITERIA", {}),
    ],
)
def test_zoho_refuses_bad_criteria(
    criteria: dict[str, object], code: str, details: dict[str, object]
) -> None:
    dataset = Dataset(seed=1, records=1, now=NOW)
    refusal = dataset.validate_query("Leads", None, criteria)
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.details) == (400, code, details)
    assert refusal.body()["status"] == "error"
    with pytest.raises(ValueError, match=code):
        dataset.count_page(
            module="Leads", criteria=criteria, page=1, per_page=1, snapshot=dataset.snapshot()
        )


def test_25_conditions_and_both_leaf_forms_are_accepted() -> None:
    dataset = Dataset(seed=1, records=50, now=NOW)
    modern = {"field": {"api_name": "City"}, "comparator": "not_equal", "value": "Austin"}
    classic = leaf("City", "not_equal", "Austin")
    criteria = {"group_operator": "AND", "group": [modern, classic] * 12 + [modern]}
    assert dataset.validate_query("Leads", None, criteria) is None
    assert matching_ids(dataset, "Leads", criteria) == matching_ids(dataset, "Leads", classic)
    assert matching_ids(dataset, "Leads", modern) == matching_ids(dataset, "Leads", classic)
