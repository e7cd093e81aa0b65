"""Fields whose values change while Modified_Time stays: a Now() formula and a rollup summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tap_zoho_bulk.simulator import run_simulator
from tap_zoho_bulk.simulator.data import Dataset

IST = timezone(timedelta(hours=5, minutes=30))
DAY = 86_400
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def fields_of(api, module):
    response = api.get("/crm/v8/settings/fields", params={"module": module})
    assert response.status_code == 200
    return {f["api_name"]: f for f in response.json()["fields"]}


def read(api, query, version="v8"):
    """Rows of one bulk read page as dicts keyed by the CSV header."""
    rows = api.rows(version, api.create_id(version, query))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def days_open(created: str, now: float) -> int:
    """What the formula means: calendar days from Created_Time to now, in the org's zone."""
    today = datetime.fromtimestamp(now, IST).date()
    return (today - datetime.fromisoformat(created).astimezone(IST).date()).days


def to_before_org_midnight(api, seconds: float) -> None:
    """Advance the simulated clock to `seconds` before the org's next midnight (+05:30)."""
    to_midnight = DAY - (api.sim.clock.now() + 5.5 * 3600) % DAY
    api.sim.advance((to_midnight - seconds) % DAY)


@pytest.fixture
def deals(make_api):
    with run_simulator(seed=6, records=60) as sim:
        yield make_api(sim)


def test_days_open_is_described_as_zoho_describes_a_formula(deals):
    field = fields_of(deals, "Deals")["Days_Open"]
    assert field["data_type"] == "formula"
    assert field["json_type"] == "double"
    assert field["formula"]["return_type"] == "double"
    assert "Now()" in field["formula"]["expression"]
    assert "${Created Time}" in field["formula"]["expression"]
    assert (field["read_only"], field["custom_field"]) == (True, True)
    assert field["view_type"]["edit"] is False


def test_days_open_follows_the_simulated_clock_but_modified_time_does_not(deals):
    api = deals
    query = {"module": "Deals", "fields": ["Days_Open", "Created_Time", "Modified_Time"]}
    to_before_org_midnight(api, 120)
    before = read(api, query)
    today = api.sim.clock.now()
    assert before
    assert all(int(row["Days_Open"]) == days_open(row["Created_Time"], today) for row in before)
    assert all(row["Days_Open"].isdigit() for row in before)  # whole days, plain integers

    api.sim.advance(60)  # still the same day
    assert read(api, query) == before

    api.sim.advance(120)  # past the org's midnight
    after = read(api, query)
    assert [row["Id"] for row in after] == [row["Id"] for row in before]
    for old, new in zip(before, after, strict=True):
        assert int(new["Days_Open"]) == int(old["Days_Open"]) + 1
        assert (new["Created_Time"], new["Modified_Time"]) == (
            old["Created_Time"],
            old["Modified_Time"],
        )
    # An incremental read on Modified_Time sees nothing to refresh.
    latest = max(datetime.fromisoformat(row["Modified_Time"]) for row in before)
    changed = {"api_name": "Modified_Time", "comparator": "greater_than",
               "value": latest.isoformat()}  # fmt: skip
    assert read(api, {"module": "Deals", "criteria": changed}) == []


def test_a_job_keeps_the_days_of_its_creation(deals):
    api = deals
    to_before_org_midnight(api, 60)
    job_id = api.create_id("v8", {"module": "Deals", "fields": ["Days_Open"]})
    api.sim.advance(120)
    rows = api.rows("v8", job_id)  # written now, read as of the job's creation
    fresh = api.rows("v8", api.create_id("v8", {"module": "Deals", "fields": ["Days_Open"]}))
    assert [int(r[1]) + 1 for r in rows[1:]] == [int(r[1]) for r in fresh[1:]]


def test_criteria_and_the_oracle_see_the_same_days(deals):
    api = deals
    to_before_org_midnight(api, 120)
    rows = read(api, {"module": "Deals", "fields": ["Days_Open"]})
    values = sorted(int(row["Days_Open"]) for row in rows)
    middle = values[len(values) // 2]
    criteria = {"api_name": "Days_Open", "comparator": "greater_than", "value": middle}
    matched = read(api, {"module": "Deals", "fields": ["Days_Open"], "criteria": criteria})
    assert [r["Id"] for r in matched] == [r["Id"] for r in rows if int(r["Days_Open"]) > middle]
    assert matched
    oracle = {r["Id"]: r["Days_Open"] for r in api.sim.dataset.records("Deals")}
    assert {r["Id"]: Decimal(r["Days_Open"]) for r in rows} == oracle
    shipments = read(api, {"module": "Shipments", "fields": ["Deal", "Deal.Days_Open"]})
    by_id = {r["Id"]: r["Days_Open"] for r in rows}
    assert all(r["Deal.Days_Open"] == by_id[r["Deal"]] for r in shipments if r["Deal"])


def test_days_open_counts_from_each_record_created_time():
    dataset = Dataset(seed=2, records=50, now=NOW, clock=lambda: NOW.timestamp() + 3 * DAY)
    for record in dataset.records("Deals"):
        created = record["Created_Time"].astimezone(IST).date()
        expected = (datetime(2025, 3, 4, 17, 30, tzinfo=IST).date() - created).days
        assert record["Days_Open"] == Decimal(expected)
        assert record["Days_Open"] >= 3


def test_rollup_is_described_with_its_child_module(make_api):
    with run_simulator(records=5) as sim:
        api = make_api(sim)
        field = fields_of(api, "Accounts")["Total_Deal_Amount"]
        related_list_id = field["rollup_summary"]["related_list"]["id"]
        assert related_list_id.isdigit()
        assert len(related_list_id) == 19
        deals_module = next(m for m in sim.dataset.modules.values() if m.api_name == "Deals")
        assert field["data_type"] == "rollup_summary"
        assert field["json_type"] == "double"
        assert field["read_only"] is True
        assert field["rollup_summary"] == {
            "return_type": "currency",
            "expression": {
                "function_parameters": [{"api_name": "Amount"}],
                "criteria": None,
                "function": "SUM",
            },
            "based_on_module": {"api_name": "Deals", "id": deals_module.id},
            "related_list": {"api_name": "Deals", "id": related_list_id},
            "rollup_based_on": "related_list",
        }


def expected_rollups(dataset: Dataset) -> dict[str, Decimal | None]:
    sums: dict[str, Decimal] = {}
    for deal in dataset.records("Deals"):
        if deal["Account_Name"] is not None and deal["Amount"] is not None:
            account = str(deal["Account_Name"])
            sums[account] = sums.get(account, Decimal(0)) + deal["Amount"]
    return {str(a["Id"]): sums.get(str(a["Id"])) for a in dataset.records("Accounts")}


def test_rollup_sums_the_live_deals_and_leaves_modified_time_alone():
    dataset = Dataset(seed=4, records=300, per_module={"Accounts": 40}, now=NOW)
    accounts_before = {a["Id"]: a for a in dataset.records("Accounts")}
    rollups_before = {i: a["Total_Deal_Amount"] for i, a in accounts_before.items()}
    assert rollups_before == expected_rollups(dataset)
    assert sum(v is not None for v in rollups_before.values()) > 20

    later = NOW + timedelta(hours=2)
    dataset.mutate(now=later, add={"Deals": 30}, modify={"Deals": 40}, delete={"Deals": 25})
    rollups_after = {a["Id"]: a["Total_Deal_Amount"] for a in dataset.records("Accounts")}
    assert rollups_after == expected_rollups(dataset)
    assert sum(rollups_before[i] != rollups_after[i] for i in rollups_after) > 5
    for account in dataset.records("Accounts"):
        old = accounts_before[account["Id"]]
        assert account["Modified_Time"] == old["Modified_Time"]
        assert {k: v for k, v in account.items() if k != "Total_Deal_Amount"} == {
            k: v for k, v in old.items() if k != "Total_Deal_Amount"
        }


def test_rollup_cells_in_bulk_read(make_api):
    with run_simulator(seed=4, records=80) as sim:
        api = make_api(sim)
        rows = read(api, {"module": "Accounts", "fields": ["Total_Deal_Amount"]})
        expected = expected_rollups(sim.dataset)
        assert {r["Id"]: r["Total_Deal_Amount"] for r in rows} == {
            i: "" if v is None else f"{v:.2f}" for i, v in expected.items()
        }
        biggest = max(v for v in expected.values() if v is not None)
        criteria = {"api_name": "Total_Deal_Amount", "comparator": "greater_equal",
                    "value": str(biggest)}  # fmt: skip
        query = {"module": "Accounts", "fields": ["Total_Deal_Amount"], "criteria": criteria}
        top = read(api, query)
        assert [r["Total_Deal_Amount"] for r in top] == [f"{biggest:.2f}"]
