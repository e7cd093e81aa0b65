"""End to end into a real database: `meltano run tap-zoho-bulk target-postgres`.

The simulator runs inside this test process so its dataset is the exact oracle (typed values,
datetimes with their real offsets, multi-select lists), also after it has been mutated. The
session's PostgreSQL server runs in a non-UTC time zone on purpose (see conftest).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tap_zoho_bulk.simulator import Simulator, run_simulator
from tap_zoho_bulk.simulator.catalog import USERS

from .conftest import ROOT, MeltanoProject, PostgresServer

SCHEMA = "zoho"
LEADS_FIELDS = [
    "Last_Name",
    "Email_Opt_Out",
    "Annual_Revenue",
    "No_of_Employees",
    "Product_Interest",
    "Owner",
    "Owner.last_name",
    "Created_Time",
    "Modified_Time",
]
# What target-postgres 0.8.1 makes of the tap's JSON Schema types (information_schema's
# data_type and udt_name): booleans stay boolean, exact decimals numeric, a multi-select (array
# of strings) a text[], a date-time a timestamp without time zone holding UTC wall time.
LEADS_COLUMN_TYPES = {
    "Id": ("text", "text"),
    "Email_Opt_Out": ("boolean", "bool"),
    "Annual_Revenue": ("numeric", "numeric"),
    "No_of_Employees": ("bigint", "int8"),
    "Product_Interest": ("ARRAY", "_text"),
    "Owner": ("text", "text"),
    "Owner.last_name": ("text", "text"),
    "Created_Time": ("timestamp without time zone", "timestamp"),
    "Modified_Time": ("timestamp without time zone", "timestamp"),
}
LAST_NAMES = {user.id: user.last_name for user in USERS}


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    # Two runs within a minute download 14 results: lift Zoho's 10-per-minute limit, which is
    # not what this test is about.
    with run_simulator(seed=11, records=150, download_limit_per_minute=100) as sim:
        yield sim


def utc_wall_time(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def expected_lead(record: dict[str, Any]) -> dict[str, Any]:
    """The row a Leads record must become."""
    row = {name: record[name] for name in LEADS_FIELDS if "." not in name}
    row["Created_Time"] = utc_wall_time(record["Created_Time"])
    row["Modified_Time"] = utc_wall_time(record["Modified_Time"])
    row["Owner.last_name"] = LAST_NAMES[record["Owner"]] if record["Owner"] else None
    return row


def exportable(sim: Simulator) -> list[str]:
    return [
        m.api_name for m in sim.dataset.modules.values() if m.api_supported and m.bulk_exportable
    ]


def assert_loaded(conn: psycopg.Connection[Any], sim: Simulator) -> None:
    """Tables, keys, row counts, column types and Leads values all match the simulator."""
    modules = exportable(sim)
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [SCHEMA]
        )
    }
    # Meltano selects every stream: the tap's job audit, its deletions and the (empty, no job
    # ids configured) bulk write streams are tables too.
    assert tables == {
        *modules,
        "bulk_read_jobs",
        "bulk_write_jobs",
        "bulk_write_results",
        "deleted_records",
    }

    for module in modules:
        table = f'{SCHEMA}."{module}"'
        counted = conn.execute(f'SELECT count(*), count(DISTINCT "Id") FROM {table}').fetchone()
        assert counted is not None
        rows, distinct = counted
        assert rows == distinct, f"{module}: {rows - distinct} duplicate primary keys"
        loaded = {i for (i,) in conn.execute(f'SELECT "Id" FROM {table}')}
        assert loaded == {r["Id"] for r in sim.dataset.records(module)}, module
        key = conn.execute(
            "SELECT k.column_name FROM information_schema.table_constraints c "
            "JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name) "
            "WHERE c.table_schema = %s AND c.table_name = %s AND c.constraint_type = 'PRIMARY KEY'",
            [SCHEMA, module],
        ).fetchall()
        assert key == [("Id",)], module

    types = {
        name: (data_type, udt)
        for name, data_type, udt in conn.execute(
            "SELECT column_name, data_type, udt_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'Leads'",
            [SCHEMA],
        )
    }
    assert {name: types.get(name) for name in LEADS_COLUMN_TYPES} == LEADS_COLUMN_TYPES

    columns = ", ".join(f'"{name}"' for name in ["Id", *LEADS_FIELDS])
    loaded_leads = {
        row[0]: dict(zip(LEADS_FIELDS, row[1:], strict=True))
        for row in conn.execute(f'SELECT {columns} FROM {SCHEMA}."Leads"')
    }
    wrong = {
        record["Id"]: (loaded_leads.get(record["Id"]), expected)
        for record in sim.dataset.records("Leads")
        if loaded_leads.get(record["Id"]) != (expected := expected_lead(record))
    }
    assert not wrong, f"{len(wrong)} Leads rows differ, e.g. {next(iter(wrong.items()))}"


def test_two_runs_into_postgres(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    pg_database: str,
    simulator: Simulator,
) -> None:
    """First run loads everything; the second, after adds and modifications, upserts.

    With Modified_Time as replication key the second run re-sends modified records (same Id),
    and Visit_Logs (no Modified_Time, so full table) re-sends everything: only upserting on the
    primary key leaves one row per Id.
    """
    leads = list(simulator.dataset.records("Leads"))
    assert {r["Email_Opt_Out"] for r in leads} >= {True, False}, "data must exercise false"
    assert any(r["Product_Interest"] for r in leads)

    env = {
        "TAP_ZOHO_BULK_USE_SIMULATOR": "false",
        **{f"TAP_ZOHO_BULK_{key.upper()}": value for key, value in simulator.tap_config().items()},
        "TAP_ZOHO_BULK_REPLICATION_KEY": "Modified_Time",
        "TAP_ZOHO_BULK_FIELDS": json.dumps({"Leads": LEADS_FIELDS}),
        **postgres.target_env(pg_database, SCHEMA),
    }

    def run() -> None:
        meltano_project.meltano(
            "run", f"--state-id-suffix={pg_database}", "tap-zoho-bulk", "target-postgres", env=env
        )

    run()
    with postgres.connect(pg_database) as conn:
        assert_loaded(conn, simulator)

    changed = simulator.mutate(add=4, modify=6)
    assert changed["Leads"] == {"added": 4, "modified": 6}
    time.sleep(1.1)  # past the second of the mutation: the tap's window ends at its run start
    run()
    with postgres.connect(pg_database) as conn:
        assert_loaded(conn, simulator)


def readme_sql(title: str) -> str:
    """The ```sql block that follows a README heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"### {title}\n") :]
    return section[section.index("```sql\n") + len("```sql\n") : section.index("\n```\n")]


def rows(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[Any, ...]]:
    return {row[0]: row for row in conn.execute(f'SELECT "Id", * FROM {SCHEMA}."{table}"')}


def test_deletions_applied_with_the_readme_sql(
    meltano_project: MeltanoProject,
    postgres: PostgresServer,
    pg_database: str,
    simulator: Simulator,
) -> None:
    """Deleted between two runs, some to the recycle bin and some for good: after the second
    load and the README's statement exactly those rows are gone, and no other row changed."""
    env = {
        "TAP_ZOHO_BULK_USE_SIMULATOR": "false",
        **{f"TAP_ZOHO_BULK_{key.upper()}": value for key, value in simulator.tap_config().items()},
        "TAP_ZOHO_BULK_MODULES": json.dumps(["Leads", "Deals"]),
        **postgres.target_env(pg_database, SCHEMA),
    }

    def run() -> None:
        meltano_project.meltano(
            "run", f"--state-id-suffix={pg_database}", "tap-zoho-bulk", "target-postgres", env=env
        )

    run()
    with postgres.connect(pg_database) as conn:
        before = {table: rows(conn, table) for table in ("Leads", "Deals")}
    binned = simulator.mutate(delete={"Leads": 4})["Leads"]["deleted"]
    simulator.mutate(purge={"Leads": binned[:2]})
    gone = simulator.mutate(delete={"Deals": 3}, permanent=True)["Deals"]["deleted"]
    deleted = {"Leads": set(binned), "Deals": set(gone)}
    time.sleep(1.1)
    run()
    with postgres.connect(pg_database) as conn:
        listed = set(conn.execute(f"SELECT module, id, type FROM {SCHEMA}.deleted_records"))
        assert listed == {
            *(("Leads", i, "permanent") for i in binned[:2]),
            *(("Leads", i, "recycle") for i in binned[2:]),
            *(("Deals", i, "permanent") for i in gone),
        }
        conn.execute(readme_sql("Deletions"))
        for table in ("Leads", "Deals"):
            after = rows(conn, table)
            assert set(after) == set(before[table]) - deleted[table], table
            assert after == {i: row for i, row in before[table].items() if i in after}, table
