"""COQL (`POST /crm/{version}/coql`): grammar, comparators per field type, paging, limits,
credits, scopes, faults, snapshots, and the same records as Bulk Read, typed as JSON."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests

from tap_zoho_bulk.simulator import Simulator, coql, run_simulator
from tap_zoho_bulk.simulator.catalog import USERS, Field, Module
from tap_zoho_bulk.simulator.data import Dataset
from tap_zoho_bulk.simulator.jobs import ApiError, ApiVersion

VERSIONS = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")
EXPORTABLE = ("Leads", "Contacts", "Accounts", "Deals", "Tasks", "Shipments", "Visit_Logs")
RECORDS = 60
LAST_NAMES = {u.id: u.last_name for u in USERS}


@pytest.fixture(scope="module")
def shared() -> Iterator[Simulator]:
    """One simulator for the tests that only read (nothing here mutates it)."""
    with run_simulator(seed=5, records=RECORDS, page_size=200_000) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def reader(shared: Simulator, make_api: Callable[..., Any]) -> Any:
    return make_api(shared)


def post(api: Any, query: object, version: str = "v8") -> requests.Response:
    body = {"select_query": query} if isinstance(query, str) else query
    return api.session.post(
        f"{api.sim.base_url}/crm/{version}/coql", headers=api.headers(), json=body
    )


def data(response: requests.Response) -> list[dict[str, Any]]:
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["data"]
    return records


def ids(api: Any, module: str, where: str, version: str = "v8") -> list[str]:
    return [
        r["id"]
        for r in data(post(api, f"select id from {module} where {where} limit 2000", version))
    ]


def oracle(sim: Simulator, module: str, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return [r["Id"] for r in sim.dataset.records(module) if keep(r)]


def refused(response: requests.Response, code: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert (body["code"], body["status"]) == (code, "error"), body
    assert isinstance(body["message"], str)
    return body


def exact(response: requests.Response) -> dict[str, Any]:
    """The answer with every number as the exact text Zoho wrote."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.text, parse_float=str, parse_int=str)
    return body


# -- the answer ----------------------------------------------------------------------------------


def test_answer_shape_default_limit_and_order(reader):
    response = post(reader, "select Last_Name from Leads where Last_Name is not null")
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data", "info"}
    assert body["info"] == {"count": RECORDS, "more_records": False}
    assert all(list(r) == ["Last_Name", "id"] for r in body["data"])
    got = [r["id"] for r in body["data"]]
    assert all(isinstance(i, str) for i in got)
    assert got == sorted(got, key=int) == oracle(reader.sim, "Leads", lambda r: True)


def test_default_limit_is_200(make_api):
    with run_simulator(seed=5, records=450) as sim:
        api = make_api(sim)
        body = post(api, "select id from Leads where id is not null").json()
        assert body["info"] == {"count": 200, "more_records": True}
        assert len(data(post(api, "select id from Leads where id is not null limit 2000"))) == 450


def test_no_match_is_204_without_body(reader):
    response = post(reader, "select Last_Name from Leads where Last_Name = 'nobody at all'")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize("version", VERSIONS)
def test_every_api_version_is_served(reader, version):
    assert (
        len(data(post(reader, "select Last_Name from Leads where id is not null", version)))
        == RECORDS
    )


def test_unknown_version_and_wrong_method(reader):
    assert post(reader, "select id from Leads where id is not null", "v9").status_code == 404
    response = reader.get("/crm/v8/coql")
    refused(response, "INVALID_REQUEST_METHOD")


def test_every_record_carries_its_id_even_unselected(reader):
    for record in data(post(reader, "select Email, First_Name from Contacts where id is not null")):
        assert list(record) == ["Email", "First_Name", "id"]
    both = data(post(reader, "select id, Email from Contacts where id is not null limit 3"))
    assert [list(r) for r in both] == [["id", "Email"]] * 3


# -- JSON values -------------------------------------------------------------------------------


def typed(sim: Simulator, module: str) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in sim.dataset.records(module)}


def test_json_types_per_data_type(reader):
    """One record per data type checked against the oracle: JSON types, not CSV text."""
    fields = (
        "Owner, Last_Name, No_of_Employees, Annual_Revenue, Email_Opt_Out, Product_Interest, "
        "Next_Follow_Up, External_Ref, Lead_Score, Discount, Tax_Rate, Partner_Account, "
        "Expected_Value, Region_Label, Last_Activity_Time, Lead_No, Created_By, Created_Time"
    )
    oracle_records = typed(reader.sim, "Leads")
    accounts = typed(reader.sim, "Accounts")
    seen: set[str] = set()
    for record in data(post(reader, f"select {fields} from Leads where id is not null")):
        truth = oracle_records[record["id"]]
        for name, value in record.items():
            if name == "id":
                continue
            expected = truth[name]
            if expected is None:
                assert value is None, name
                continue
            seen.add(name)
            if isinstance(expected, bool):
                assert value is expected
            elif isinstance(expected, Decimal):
                assert isinstance(value, int | float), name
                assert Decimal(str(value)) == expected, name
            elif name == "No_of_Employees":
                assert type(value) is int
                assert value == expected
            elif name == "External_Ref":  # bigint: json_type string, as Zoho types it
                assert value == str(expected)
            elif isinstance(expected, list):
                assert value == expected
            elif isinstance(expected, datetime):
                assert value == expected.isoformat()
                assert datetime.fromisoformat(value) == expected
            elif isinstance(expected, date):
                assert value == expected.isoformat()
            elif name in ("Owner", "Created_By"):
                assert value == {"name": LAST_NAMES[expected], "id": expected}
            elif name == "Partner_Account":
                assert value == {"name": accounts[expected]["Account_Name"], "id": expected}
            else:
                assert value == expected, name
    assert seen == {f.strip() for f in fields.split(",")}


def test_decimals_keep_their_exact_digits(reader):
    """Trailing zeros and all: the JSON text is the dataset's Decimal, as Bulk Read writes it."""
    truth = typed(reader.sim, "Leads")
    body = exact(
        post(reader, "select Annual_Revenue, Tax_Rate, Discount from Leads where id is not null")
    )
    trailing = 0
    for record in body["data"]:
        for name in ("Annual_Revenue", "Tax_Rate", "Discount"):
            expected = truth[record["id"]][name]
            assert record[name] == (None if expected is None else format(expected, "f"))
            trailing += record[name] is not None and record[name].endswith("0")
    assert trailing  # the check saw values a float would have shortened


def test_lookups_carry_a_name_from_v7_only(reader):
    query = (
        "select Owner, Account_Name, Contact_Name from Deals where Account_Name is not null limit 5"
    )
    for version in ("v2", "v2.1", "v6"):
        for record in data(post(reader, query, version)):
            assert set(record["Owner"]) == {"id"}
            assert set(record["Account_Name"]) == {"id"}
    contacts = typed(reader.sim, "Contacts")
    for record in data(post(reader, query, "v7")):
        assert record["Owner"]["name"] == LAST_NAMES[record["Owner"]["id"]]
        contact = record["Contact_Name"]
        if contact is not None:
            truth = contacts[contact["id"]]
            name = " ".join(n for n in (truth["First_Name"], truth["Last_Name"]) if n)
            assert contact == {"name": name, "id": contact["id"]}


def test_dotted_lookups_one_and_two_relations(reader):
    contacts = typed(reader.sim, "Contacts")
    accounts = typed(reader.sim, "Accounts")
    query = (
        "select Account_Name.Account_Name, Account_Name.Parent_Account, "
        "Account_Name.Parent_Account.Account_Name, Owner.last_name, Owner.email "
        "from Contacts where id is not null"
    )
    checked = 0
    for record in data(post(reader, query)):
        truth = contacts[record["id"]]
        account = accounts.get(truth["Account_Name"]) if truth["Account_Name"] else None
        owner = next(u for u in USERS if u.id == truth["Owner"])
        assert record["Owner.last_name"] == owner.last_name
        assert record["Owner.email"] == owner.email
        if account is None:
            assert record["Account_Name.Account_Name"] is None
            continue
        assert record["Account_Name.Account_Name"] == account["Account_Name"]
        parent = account["Parent_Account"]
        assert record["Account_Name.Parent_Account"] == (parent and {"id": parent})
        expected = accounts[parent]["Account_Name"] if parent else None
        assert record["Account_Name.Parent_Account.Account_Name"] == expected
        checked += parent is not None
    assert checked


# -- the same records as Bulk Read ---------------------------------------------------------------


def as_cell(value: Any) -> str:
    """A COQL value (numbers kept as their JSON text) as Bulk Read's CSV would write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value["id"])
    if isinstance(value, list):
        return ";".join(value)
    return str(value)


@pytest.mark.parametrize("module", EXPORTABLE)
def test_coql_serves_the_records_bulk_read_exports(reader, module):
    job_id = reader.create_id("v8", {"module": module})
    rows = reader.rows("v8", job_id)
    header, exported = rows[0], rows[1:]
    assert header[0] == "Id"
    assert len(exported) == reader.sim.dataset.record_count(module)
    query = f"select {', '.join(header[1:])} from {module} where id is not null limit 2000"
    body = exact(post(reader, query))
    assert body["info"]["count"] == str(len(exported))  # parse_int=str
    converted = [[r["id"], *(as_cell(r[name]) for name in header[1:])] for r in body["data"]]
    assert converted == exported


def test_bulk_read_equivalence_holds_on_v2_too(reader):
    job_id = reader.create_id("v2", {"module": "Deals"})
    rows = reader.rows("v2", job_id)
    query = f"select {', '.join(rows[0][1:])} from Deals where id is not null limit 200"
    body = exact(post(reader, query, "v2"))
    assert [[r["id"], *(as_cell(r[n]) for n in rows[0][1:])] for r in body["data"]] == rows[1:]


# -- grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT Last_Name FROM Leads WHERE Last_Name IS NOT NULL ORDER BY id ASC LIMIT 0, 7",
        "select Last_Name from leads where Last_Name is not null limit 7",
        "Select 'Last_Name' From Leads Where 'Last_Name' is not null Limit 7 Offset 0",
        'select "Last_Name" from Leads where (Last_Name is not null) limit 7;',
        "select\n  Last_Name\nfrom Leads\nwhere\n  ((Last_Name is not null))\nlimit 7",
        "select Last_Name from Leads where Id is not null order by ID limit 7",
    ],
)
def test_grammar_variants_mean_the_same(reader, query):
    records = data(post(reader, query))
    assert [r["id"] for r in records] == oracle(reader.sim, "Leads", lambda r: True)[:7]
    assert all(set(r) <= {"Last_Name", "id"} for r in records)


def test_limit_offset_forms_agree(reader):
    base = "select id from Accounts where id is not null"
    window = oracle(reader.sim, "Accounts", lambda r: True)[5:15]
    assert [r["id"] for r in data(post(reader, f"{base} limit 5, 10"))] == window
    assert [r["id"] for r in data(post(reader, f"{base} limit 10 offset 5"))] == window
    assert [r["id"] for r in data(post(reader, f"{base} offset 5"))] == oracle(
        reader.sim, "Accounts", lambda r: True
    )[5:]


def test_quoted_values_escapes_and_bare_words(reader):
    truth = oracle(reader.sim, "Leads", lambda r: r["Last_Name"] == "O'Brien")
    assert truth
    assert ids(reader, "Leads", "Last_Name = 'O\\'Brien'") == truth
    assert ids(reader, "Leads", 'Last_Name = "O\'Brien"') == truth
    smitty = oracle(reader.sim, "Leads", lambda r: r["Last_Name"] == 'Smith "Smitty"')
    assert ids(reader, "Leads", "Last_Name = 'Smith \"Smitty\"'") == smitty
    chat = oracle(reader.sim, "Leads", lambda r: r["Lead_Source"] == "Chat")
    assert chat
    assert ids(reader, "Leads", "Lead_Source = Chat") == chat


def parse_error(response: requests.Response) -> dict[str, Any]:
    details: dict[str, Any] = refused(response, "SYNTAX_ERROR")["details"]
    return details


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("select Last_Name from Leads", {"clause": "where"}),
        ("select Last_Name from Leads order by id limit 3", {"clause": "where"}),
        ("select Last_Name", {"clause": "from"}),
        (
            "update Leads set Last_Name = 'x' where id = 1",
            {"line": 1, "column": 1, "near": "update"},
        ),
        ("select * from Leads where id is not null", {"line": 1, "column": 8, "near": "*"}),
        (
            "select id from Leads where Last_Name is null and Email is null and Phone is null",
            {"line": 1, "column": 64, "near": "and"},
        ),
        (
            "select id from Leads where (Last_Name is null",
            {"line": 1, "column": 42, "near": "null"},
        ),
        ("select id from Leads where Last_Name = 'open", {"line": 1, "column": 40, "near": "'"}),
        (
            "select id from Leads\nwhere id is not null limit -3",
            {"line": 2, "column": 28, "near": "-3"},
        ),
        (
            "select id from Leads where id is not null limit 2, 3 offset 4",
            {"line": 1, "column": 54, "near": "offset"},
        ),
        ("select id from Leads#123 where id is not null", {"line": 1, "column": 21, "near": "#"}),
        (
            "select id from Leads where id is not null group by Last_Name",
            {"line": 1, "column": 43, "near": "group"},
        ),
        ("select id from Leads where Last_Name <> 'x'", {"line": 1, "column": 39, "near": ">"}),
        ("select id from Leads where id is not null limit 0", {"clause": "limit"}),
    ],
)
def test_syntax_errors_say_where(reader, query, details):
    assert parse_error(post(reader, query)) == details


def test_two_criteria_need_no_brackets_three_do(reader):
    assert ids(reader, "Leads", "Last_Name is not null and Email is not null")
    grouped = "(Last_Name is not null and Email is not null) and Phone is not null"
    expected = oracle(reader.sim, "Leads", lambda r: bool(r["Email"] and r["Phone"]))
    assert ids(reader, "Leads", grouped) == expected
    assert (
        ids(reader, "Leads", "Last_Name is not null and (Email is not null and Phone is not null)")
        == expected
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "REQUIRED_PARAM_MISSING"),
        ({"select_query": "   "}, 400, "INVALID_QUERY"),
        ({"select_query": 5}, 400, "INVALID_DATA"),
        (["select id from Leads where id is not null"], 400, "REQUEST_BODY_NOT_SUPPORTED"),
    ],
)
def test_request_bodies_refused(reader, body, status, code):
    refused(post(reader, body), code, status)


def test_body_must_be_json(reader):
    url = f"{reader.sim.base_url}/crm/v8/coql"
    response = reader.session.post(url, headers=reader.headers(), data=b"select id")
    refused(response, "MEDIA_TYPE_NOT_SUPPORTED", 415)
    headers = {**reader.headers(), "Content-Type": "application/json"}
    refused(reader.session.post(url, headers=headers, data=b"{nope"), "REQUEST_BODY_NOT_SUPPORTED")


# -- what the catalog refuses ------------------------------------------------------------------


UNKNOWN_IN = {
    "select": "select {} from Leads where id is not null",
    "where": "select id from Leads where {} is null",
    "order by": "select id from Leads where id is not null order by {}",
}


@pytest.mark.parametrize(
    ("clause", "column"),
    [
        ("select", "Testing"),
        ("where", "Testing"),
        ("order by", "Testing"),
        ("select", "Owner.nickname"),
        ("where", "Last_Name.x"),
        ("select", "last_name"),  # API names are exact; only id is taken in any case
        ("select", "$converted"),  # a property of Bulk Read, not a field
    ],
)
def test_unknown_columns(reader, clause, column):
    body = refused(post(reader, UNKNOWN_IN[clause].format(column)), "INVALID_QUERY")
    details = {"column_name": column, "clause": clause}
    assert body["message"] == "column given seems to be invalid"
    assert body["details"] == details


@pytest.mark.parametrize(
    ("module", "reason"),
    [
        ("Nowhere", "the module name given seems to be invalid"),
        ("Home", "the module is not supported"),
    ],
)
def test_modules_coql_cannot_read(reader, module, reason):
    body = refused(post(reader, f"select id from {module} where id is not null"), "INVALID_QUERY")
    assert body["details"] == {"module": module, "clause": "from", "reason": reason}


def test_module_names_in_any_case_and_notes_too(reader):
    assert len(ids(reader, "deals", "id is not null")) == RECORDS
    assert (
        len(ids(reader, "Notes", "Note_Title is not null")) > 0
    )  # COQL reads what Bulk Read refuses


@pytest.mark.parametrize(
    ("query", "column", "data_type", "clause"),
    [
        ("select Documents from Leads where id is not null", "Documents", "fileupload", "select"),
        (
            "select Related_Products from Leads where id is not null",
            "Related_Products",
            "multiselectlookup",
            "select",
        ),
        ("select id from Leads where Description is null", "Description", "textarea", "where"),
        (
            "select id from Leads where id is not null order by Product_Interest",
            "Product_Interest",
            "multiselectpicklist",
            "order by",
        ),
    ],
)
def test_unsupported_data_types(reader, query, column, data_type, clause):
    body = refused(post(reader, query), "INVALID_QUERY")
    assert body["message"] == "data type not supported"
    assert body["details"] == {"column_name": column, "data_type": data_type, "clause": clause}


@pytest.mark.parametrize(
    ("where", "column", "operator"),
    [
        ("Last_Name >= 'a'", "Last_Name", ">="),
        ("Lead_Status between 'a' and 'b'", "Lead_Status", "between"),
        ("Annual_Revenue like '%1%'", "Annual_Revenue", "like"),
        ("Next_Follow_Up not like '%1%'", "Next_Follow_Up", "not like"),
        ("Email_Opt_Out != true", "Email_Opt_Out", "!="),
        ("Email_Opt_Out is null", "Email_Opt_Out", "is null"),
        ("Owner > '1'", "Owner", ">"),
        ("Partner_Account like '4%'", "Partner_Account", "like"),
        ("Product_Interest < 'CRM'", "Product_Interest", "<"),
    ],
)
def test_comparators_a_field_type_does_not_take(reader, where, column, operator):
    body = refused(post(reader, f"select id from Leads where {where}"), "INVALID_QUERY")
    assert body["details"] == {"column_name": column, "operator": operator, "clause": "where"}


@pytest.mark.parametrize(
    ("where", "column", "expected"),
    [
        ("No_of_Employees = 'adfkahfd'", "No_of_Employees", "integer"),
        ("Created_Time = '2026-01-01'", "Created_Time", "datetime"),
        ("Created_Time > '2026-01-01T00:00:00.123+00:00'", "Created_Time", "datetime"),
        ("Next_Follow_Up = '2026-13-01'", "Next_Follow_Up", "date"),
        ("Email_Opt_Out = 'yes'", "Email_Opt_Out", "boolean"),
        ("Owner = 'Boyle'", "Owner", "ownerlookup"),
        ("id = 'abc'", "id", "bigint"),
        ("Last_Name like '%'", "Last_Name", "text"),
        ("Last_Name like 'a%b'", "Last_Name", "text"),
        ("Last_Name not like 'Smi%'", "Last_Name", "text"),
        ("Annual_Revenue between '1' and 'x'", "Annual_Revenue", "currency"),
    ],
)
def test_values_that_do_not_suit_the_field(reader, where, column, expected):
    body = refused(post(reader, f"select id from Leads where {where}"), "INVALID_QUERY")
    assert body["message"] == "value given seems to be invalid for the column"
    assert body["details"] == {
        "column_name": column,
        "expected_data_type": expected,
        "clause": "where",
    }


# -- comparators and their meaning ----------------------------------------------------------------


def leads(reader: Any, keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    return oracle(reader.sim, "Leads", keep)


def fold(value: Any) -> str:
    return str(value).casefold()


# The data lies in the two years before now, dates within a year of it: compare around those.
SOME_DAY = datetime.now(UTC).replace(microsecond=0) - timedelta(days=365)
EARLY = SOME_DAY - timedelta(days=100)
LATE = SOME_DAY + timedelta(days=100)
TODAY = datetime.now(UTC).date()


def at(moment: datetime, offset: str) -> str:
    """An instant written in another offset (`+05:30`), or in UTC with `Z`."""
    if offset == "Z":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = -1 if offset[0] == "-" else 1
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    return moment.astimezone(timezone(shift)).isoformat(timespec="seconds")


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        ("Last_Name = 'smith'", lambda r: fold(r["Last_Name"]) == "smith"),
        ("Last_Name != 'Smith'", lambda r: fold(r["Last_Name"]) != "smith"),
        ("Company like '%print%'", lambda r: "print" in fold(r["Company"] or "")),
        ("Company like 'print%'", lambda r: fold(r["Company"] or "").startswith("print")),
        ("Company like '%s'", lambda r: fold(r["Company"] or "").endswith("s")),
        ("Company like 'Feiner Bros'", lambda r: fold(r["Company"]) == "feiner bros"),
        ("Company like 'Press'", lambda r: fold(r["Company"]) == "press"),
        ("Company not like '%,%'", lambda r: "," not in (r["Company"] or "")),
        (
            "Lead_Source in ('Chat', 'Web Research')",
            lambda r: r["Lead_Source"] in ("Chat", "Web Research"),
        ),
        ("Lead_Source not in ('Chat')", lambda r: r["Lead_Source"] != "Chat"),
        ("Secondary_Email is null", lambda r: r["Secondary_Email"] is None),
        ("Secondary_Email is not null", lambda r: r["Secondary_Email"] is not None),
        ("No_of_Employees > 100000", lambda r: (r["No_of_Employees"] or 0) > 100000),
        (
            "No_of_Employees <= 100000",
            lambda r: r["No_of_Employees"] is not None and r["No_of_Employees"] <= 100000,
        ),
        (
            "Annual_Revenue between 1000000 and '5000000.5'",
            lambda r: (
                r["Annual_Revenue"] is not None
                and 1000000 <= r["Annual_Revenue"] <= Decimal("5000000.5")
            ),
        ),
        (
            "Annual_Revenue not between 1000000 and 5000000",
            lambda r: (
                not (r["Annual_Revenue"] is not None and 1000000 <= r["Annual_Revenue"] <= 5000000)
            ),
        ),
        (
            "Lead_Score < -50.5",
            lambda r: r["Lead_Score"] is not None and r["Lead_Score"] < Decimal("-50.5"),
        ),
        (f"Created_Time >= '{at(SOME_DAY, '+05:30')}'", lambda r: r["Created_Time"] >= SOME_DAY),
        (f"Created_Time < '{at(SOME_DAY, 'Z')}'", lambda r: r["Created_Time"] < SOME_DAY),
        (
            f"Created_Time between '{at(EARLY, '-08:00')}' and '{at(LATE, '+00:00')}'",
            lambda r: EARLY <= r["Created_Time"] <= LATE,
        ),
        (
            f"Next_Follow_Up > '{TODAY}'",
            lambda r: r["Next_Follow_Up"] is not None and r["Next_Follow_Up"] > TODAY,
        ),
        ("Email_Opt_Out = true", lambda r: r["Email_Opt_Out"] is True),
        ("Email_Opt_Out = 'FALSE'", lambda r: r["Email_Opt_Out"] is False),
        (f"Owner = '{USERS[0].id}'", lambda r: r["Owner"] == USERS[0].id),
        (
            f"Owner in ('{USERS[1].id}', {USERS[2].id})",
            lambda r: r["Owner"] in (USERS[1].id, USERS[2].id),
        ),
        ("Partner_Account is null", lambda r: r["Partner_Account"] is None),
        ("Product_Interest in ('CRM')", lambda r: "CRM" in (r["Product_Interest"] or [])),
        ("Product_Interest = 'CRM;Desk'", lambda r: r["Product_Interest"] == ["CRM", "Desk"]),
        ("Product_Interest like '%Books%'", lambda r: "Books" in (r["Product_Interest"] or [])),
        ("Owner.last_name = 'Boyle'", lambda r: LAST_NAMES[r["Owner"]] == "Boyle"),
        ("Lead_No like 'LD-1%'", lambda r: r["Lead_No"].startswith("LD-1")),
        ("Region_Label in ('EMEA', 'APAC')", lambda r: r["Region_Label"] in ("EMEA", "APAC")),
        (
            "Expected_Value >= 0",
            lambda r: r["Expected_Value"] is not None and r["Expected_Value"] >= 0,
        ),
        (
            "(Lead_Source = 'Chat' or Lead_Source = 'Seminar Partner') and Email_Opt_Out = false",
            lambda r: (
                r["Lead_Source"] in ("Chat", "Seminar Partner") and r["Email_Opt_Out"] is False
            ),
        ),
        (
            "Email_Opt_Out = true or (Annual_Revenue > 9000000 and Rating = 'Active')",
            lambda r: (
                r["Email_Opt_Out"]
                or ((r["Annual_Revenue"] or 0) > 9000000 and r["Rating"] == "Active")
            ),
        ),
    ],
)
def test_comparators_mean_what_zoho_says(reader, where, keep):
    expected = leads(reader, keep)
    assert ids(reader, "Leads", where) == expected


def test_the_comparator_tests_are_not_empty(reader):
    """The parametrized comparisons above mean something only if they select some records
    but not all of them; check a few that could silently match everything or nothing."""
    for where in (
        "Company like '%print%'",
        "Company like 'print%'",
        "Company like '%s'",
        "Secondary_Email is null",
        "Product_Interest in ('CRM')",
        "Email_Opt_Out = true",
        f"Next_Follow_Up > '{TODAY}'",
        f"Created_Time < '{at(SOME_DAY, 'Z')}'",
        "Lead_No like 'LD-1%'",
    ):
        assert 0 < len(ids(reader, "Leads", where)) < RECORDS, where


def test_like_patterns_are_not_all_contains(reader):
    """Each pattern form selects other records than plain contains would."""
    contains = set(ids(reader, "Leads", "Company like '%print%'"))
    assert set(ids(reader, "Leads", "Company like 'print%'")) < contains
    assert set(ids(reader, "Leads", "Company like '%s'")) < set(
        ids(reader, "Leads", "Company like '%s%'")
    )
    assert ids(reader, "Leads", "Company like 'Press'") == []
    assert ids(reader, "Leads", "Company like '%Press'")


def test_multi_select_values_are_named_with_semicolons_whatever_the_export_separator(make_api):
    with run_simulator(seed=5, records=RECORDS, multiselect_separator="|") as sim:
        api = make_api(sim)
        expected = oracle(sim, "Leads", lambda r: r["Product_Interest"] == ["CRM", "Desk"])
        assert expected
        assert ids(api, "Leads", "Product_Interest = 'CRM;Desk'") == expected
        records = data(post(api, "select Product_Interest from Leads where id is not null"))
        truth = typed(sim, "Leads")
        assert [r["Product_Interest"] for r in records] == [
            truth[r["id"]]["Product_Interest"] for r in records
        ]


def test_a_date_time_without_offset_is_read_in_the_orgs(reader):
    records = list(reader.sim.dataset.records("Leads"))
    moment = sorted(r["Created_Time"] for r in records)[len(records) // 2]
    own = timezone(timedelta(hours=5, minutes=30))  # the simulator's default --utc-offset
    local = moment.astimezone(own).replace(tzinfo=None).isoformat(timespec="seconds")
    expected = [r["Id"] for r in records if r["Created_Time"] >= moment]
    assert ids(reader, "Leads", f"Created_Time >= '{local}'") == expected


def test_id_compares_as_a_number(reader):
    all_ids = oracle(reader.sim, "Leads", lambda r: True)
    assert ids(reader, "Leads", f"id > '{all_ids[9]}'") == all_ids[10:]
    assert ids(reader, "Leads", f"id in ({all_ids[0]}, '{all_ids[3]}')") == [all_ids[0], all_ids[3]]
    assert ids(reader, "Leads", f"id = {all_ids[5]}") == [all_ids[5]]


def test_dotted_and_computed_fields_filter(reader):
    deals = typed(reader.sim, "Deals")
    accounts = typed(reader.sim, "Accounts")
    got = ids(reader, "Deals", "Account_Name.Account_Name like '%print%' or Days_Open < 100")
    expected = [
        i
        for i, r in deals.items()
        if (r["Account_Name"] and "print" in fold(accounts[r["Account_Name"]]["Account_Name"]))
        or r["Days_Open"] < 100
    ]
    assert 0 < len(got) < RECORDS
    assert got == expected
    rich = ids(reader, "Accounts", "Total_Deal_Amount > 5000000")
    assert rich == [i for i, r in accounts.items() if (r["Total_Deal_Amount"] or 0) > 5000000]


# -- ordering and paging -----------------------------------------------------------------------


def sort_key(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    return value


@pytest.mark.parametrize(
    ("order", "fields"),
    [
        ("Last_Name", [("Last_Name", False)]),
        ("Last_Name desc, id desc", [("Last_Name", True), ("Id", True)]),
        ("Annual_Revenue desc", [("Annual_Revenue", True)]),
        ("Modified_Time, Created_Time desc", [("Modified_Time", False), ("Created_Time", True)]),
        ("Next_Follow_Up asc", [("Next_Follow_Up", False)]),
        ("Email_Opt_Out, Lead_Source desc", [("Email_Opt_Out", False), ("Lead_Source", True)]),
        ("id desc", [("Id", True)]),
    ],
)
def test_order_by_with_empty_values_first_ascending(reader, order, fields):
    records = list(reader.sim.dataset.records("Leads"))
    expected = sorted(records, key=lambda r: int(r["Id"]))  # ties by ascending id
    for name, descending in reversed(fields):
        filled = [r for r in expected if r[name] is not None]
        empty = [r for r in expected if r[name] is None]
        filled.sort(key=lambda r: sort_key(r[name]), reverse=descending)
        expected = filled + empty if descending else empty + filled
    query = f"select id from Leads where id is not null order by {order} limit 2000"
    assert ids_of(post(reader, query)) == [r["Id"] for r in expected]


def ids_of(response: requests.Response) -> list[str]:
    return [r["id"] for r in data(response)]


def test_pages_add_up_with_more_records(reader):
    query = "select id from Leads where Email is not null order by Last_Name desc, Modified_Time"
    whole = ids_of(post(reader, f"{query} limit 2000"))
    assert 20 < len(whole) < RECORDS
    pages, offset = [], 0
    while True:
        body = post(reader, f"{query} limit {offset}, 7").json()
        pages += [r["id"] for r in body["data"]]
        offset += 7
        assert body["info"]["more_records"] is (offset < len(whole))
        if not body["info"]["more_records"]:
            break
    assert pages == whole
    assert post(reader, f"{query} limit {len(whole)}, 7").status_code == 204


@pytest.mark.parametrize(
    ("version", "ok", "too_far", "per_call"),
    [
        ("v8", "limit 98000, 2000", "limit 98001, 2000", 2000),
        ("v7", "limit 99999, 1", "limit 99999, 2", 2000),
        ("v6", "limit 8000, 2000", "limit 8001, 2000", 2000),
        ("v4", "limit 2000 offset 8000", "limit 2000 offset 8001", 2000),
        ("v3", "limit 9800, 200", "limit 9801, 200", 200),
        ("v2", "limit 200 offset 9800", "limit 200 offset 9801", 200),
    ],
)
def test_reach_and_records_per_call_per_version(reader, version, ok, too_far, per_call):
    base = "select id from Leads where id is not null"
    assert post(reader, f"{base} {ok}", version).status_code == 204
    reach = 100_000 if version in ("v7", "v8") else 10_000
    body = refused(post(reader, f"{base} {too_far}", version), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "offset", "limit": reach}
    assert len(data(post(reader, f"{base} limit {per_call}", version))) == RECORDS
    body = refused(post(reader, f"{base} limit {per_call + 1}", version), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "limit", "limit": per_call}


# -- limits of a query -----------------------------------------------------------------------------


def nested(leaves: int) -> str:
    expression = "Last_Name is not null"
    for _ in range(leaves - 1):
        expression = f"({expression} and Email is not null)"
    return expression


def test_at_most_25_criteria(reader):
    assert post(reader, f"select id from Leads where {nested(25)}").status_code == 200
    body = refused(post(reader, f"select id from Leads where {nested(26)}"), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "criteria", "limit": 25}


@pytest.mark.parametrize(("version", "limit"), [("v6", 50), ("v8", 100)])
def test_in_values_per_version(reader, version, limit):
    values = ", ".join(f"'name {n}'" for n in range(limit))
    query = f"select id from Leads where Last_Name in ({values}, 'Smith')"
    body = refused(post(reader, query, version), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "in_values", "limit": limit}
    query = f"select id from Leads where Last_Name in ({values})"
    assert post(reader, query, version).status_code == 204


def test_select_fields_per_version_and_duplicates(reader):
    fifty_one = ", ".join(["Last_Name"] * 51)
    body = refused(
        post(reader, f"select {fifty_one} from Leads where id is not null", "v6"), "LIMIT_EXCEEDED"
    )
    assert body["details"] == {"by": "select_columns", "limit": 50}
    # From v7 up to 500 fields: the 51 are then refused only for repeating one (HTTP 401, as
    # Zoho documents DUPLICATE_DATA for SELECT columns).
    body = refused(
        post(reader, f"select {fifty_one} from Leads where id is not null"), "DUPLICATE_DATA", 401
    )
    assert body["details"] == {"column_name": "Last_Name", "clause": "select"}
    body = refused(
        post(reader, "select id, Id from Leads where id is not null"), "DUPLICATE_DATA", 401
    )
    assert body["details"] == {"column_name": "Id", "clause": "select"}


def test_order_by_limits_and_duplicates(reader):
    fields = [
        "Last_Name",
        "First_Name",
        "Email",
        "Phone",
        "Mobile",
        "City",
        "State",
        "Country",
        "Company",
        "Rating",
    ]
    base = "select id from Leads where id is not null order by"
    assert post(reader, f"{base} {', '.join(fields)}").status_code == 200
    body = refused(post(reader, f"{base} {', '.join([*fields, 'Street'])}"), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "order_by", "limit": 10}
    body = refused(post(reader, f"{base} id, id desc"), "DUPLICATE_DATA")
    assert body["details"] == {"column_name": "id", "clause": "order by"}


def test_relations_per_field_and_per_query(reader):
    three = (
        "select Account_Name.Parent_Account.Parent_Account.Account_Name from Contacts "
        "where id is not null"
    )
    body = refused(post(reader, three), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "relations", "limit": 2}
    # Three lookups followed in one query: too many before v7, fine from v7 (15).
    query = (
        "select Account_Name.Account_Name, Account_Name.Parent_Account.Account_Name, "
        "Contact_Name.Last_Name from Deals where id is not null"
    )
    body = refused(post(reader, query, "v6"), "LIMIT_EXCEEDED")
    assert body["details"] == {"by": "relations", "limit": 2}
    assert len(data(post(reader, query, "v8"))) == RECORDS


def formula_module(count: int) -> Module:
    def field(n: int, name: str, data_type: str, **options: Any) -> Field:
        return Field(
            name,
            f"4150868000000900{n:03d}",
            data_type,
            options.pop("json_type", None),
            name,
            **options,
        )

    formulas = [
        field(
            n, f"Age_{n}", "formula", json_type="double", formula_return_type="double", dynamic=True
        )
        for n in range(count)
    ]
    return Module(
        "Gauges",
        "4150868000000009999",
        "custom",
        api_supported=True,
        bulk_exportable=True,
        fields=(
            field(900, "id", "bigint", json_type="string"),
            field(901, "Name", "text", json_type="string"),
            *formulas,
            field(902, "Created_Time", "datetime", json_type="string"),
            field(903, "Modified_Time", "datetime", json_type="string"),
        ),
    )


def planned(dataset: Dataset, query: str, version: str = "v8") -> coql.Plan | ApiError:
    statement = coql.parse(query)
    assert not isinstance(statement, ApiError)
    module = coql.module_of(dataset.modules, statement)
    assert not isinstance(module, ApiError)
    parsed = ApiVersion.parse(version)
    assert parsed is not None
    return coql.plan(dataset, parsed, statement, module)


def test_at_most_five_dynamic_formula_fields():
    dataset = Dataset(records=4, modules=[formula_module(6)])
    five = ", ".join(f"Age_{n}" for n in range(5))
    plan = planned(dataset, f"select Name, {five} from Gauges where id is not null")
    assert isinstance(plan, coql.Plan)
    status, payload = coql.execute(dataset, plan, dataset.snapshot())
    records = json.loads(payload)["data"]
    assert status == 200
    assert len(records) == 4
    assert all(r["Age_4"] >= 0 for r in records)
    six = planned(dataset, f"select {five}, Age_5 from Gauges where id is not null")
    assert isinstance(six, ApiError)
    assert six.code == "LIMIT_EXCEEDED"
    assert six.details == {"by": "dynamic_formula_fields", "limit": 5}


# -- credits, scopes, faults ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "cost"),
    [
        ("", 1),
        ("limit 1", 1),
        ("limit 200", 1),
        ("limit 201", 2),
        ("limit 1000", 2),
        ("limit 1001", 3),
        ("limit 2000", 3),
    ],
)
def test_credits_by_limit_tier(api, limit, cost):
    before = api.sim.stats()
    response = post(api, f"select id from Deals where id is not null {limit}")
    assert response.status_code == 200
    after = api.sim.stats()
    assert after["credits_used"] - before["credits_used"] == cost
    assert after["calls"]["coql"] - before["calls"].get("coql", 0) == 1


def test_credits_of_an_empty_answer_and_of_a_refusal(api):
    before = api.sim.stats()["credits_used"]
    assert post(api, "select id from Deals where Deal_Name = 'none' limit 1500").status_code == 204
    assert api.sim.stats()["credits_used"] - before == 3
    refused(post(api, "select id from Deals"), "SYNTAX_ERROR")
    assert api.sim.stats()["credits_used"] - before == 4  # like every refused call here: 1


@pytest.mark.parametrize(
    ("scopes", "module", "allowed"),
    [
        (["ZohoCRM.coql.READ", "ZohoCRM.modules.ALL"], "Leads", True),
        (["zohocrm.coql.read", "ZohoCRM.modules.leads.READ"], "Leads", True),
        (["ZohoCRM.coql.READ", "ZohoCRM.modules.READ"], "Deals", True),
        (["ZohoCRM.coql.READ", "ZohoCRM.modules.custom.READ"], "Shipments", True),
        (["ZohoCRM.coql.READ", "ZohoCRM.modules.leads.READ"], "Deals", False),
        (["ZohoCRM.coql.READ"], "Leads", False),
        (["ZohoCRM.modules.ALL", "ZohoCRM.bulk.ALL", "ZohoCRM.settings.ALL"], "Leads", False),
        (["ZohoCRM.coql.ALL", "ZohoCRM.modules.ALL"], "Leads", False),
    ],
)
def test_scopes(sim, make_api, scopes, module, allowed):
    api = make_api(sim, sim.add_refresh_token(scopes=scopes))
    response = post(api, f"select id from {module} where id is not null")
    if allowed:
        assert response.status_code == 200, response.text
    else:
        body = refused(response, "OAUTH_SCOPE_MISMATCH", 401)
        assert body["message"] == "invalid oauth scope to access this URL"


def test_scope_is_checked_before_the_query(sim, make_api):
    api = make_api(sim, sim.add_refresh_token(scopes=["ZohoCRM.modules.ALL"]))
    refused(post(api, "select nonsense"), "OAUTH_SCOPE_MISMATCH", 401)


def test_faults_target_coql(api):
    api.sim.faults.add("coql:500:once")
    api.sim.faults.add("coql:503:nth=3")
    query = "select id from Leads where id is not null"
    statuses = [post(api, query).status_code for _ in range(4)]
    assert statuses == [500, 200, 503, 200]
    assert api.sim.stats()["faults_fired"] == {"coql:500:once": 1, "coql:503:nth=3": 1}
    assert api.sim.stats()["calls"]["coql"] == 4


def test_truncate_fault_cuts_the_answer(api):
    api.sim.faults.add("coql:truncate")
    response = post(api, "select id from Leads where id is not null")
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_expired_token_is_refused(api):
    api.token()
    api.sim.expire_tokens()
    refused(post(api, "select id from Leads where id is not null"), "INVALID_TOKEN", 401)


# -- snapshot semantics ----------------------------------------------------------------------------


def test_deleted_records_leave_and_restored_ones_come_back(api):
    sim = api.sim
    query = "select Last_Name from Leads where id is not null limit 2000"
    before = ids_of(post(api, query))
    gone = sim.mutate(delete={"Leads": 3})["Leads"]["deleted"]
    after = ids_of(post(api, query))
    assert after == [i for i in before if i not in gone]
    assert ids(api, "Leads", f"id in ({', '.join(gone)})") == []
    sim.mutate(restore={"Leads": [gone[0]]})
    assert ids_of(post(api, query)) == [i for i in before if i not in gone[1:]]


def test_added_and_modified_records_show_at_once(api):
    sim = api.sim
    start = datetime.now(UTC).replace(microsecond=0)  # every record is older than the data
    stamp = start.isoformat(timespec="seconds")
    assert post(api, f"select id from Deals where Modified_Time >= '{stamp}'").status_code == 204
    sim.mutate(add={"Deals": 2}, modify={"Deals": 3})  # stamped after that read
    changed = data(
        post(
            api,
            f"select Modified_Time from Deals where Modified_Time >= '{stamp}' "
            "order by Modified_Time",
        )
    )
    assert len(changed) == 5
    times = [datetime.fromisoformat(r["Modified_Time"]) for r in changed]
    assert times == sorted(times)
    assert all(t >= start for t in times)


def test_dynamic_formula_follows_the_simulated_clock(api):
    query = "select Days_Open from Deals where id is not null limit 5"
    first = {r["id"]: r["Days_Open"] for r in data(post(api, query))}
    api.sim.advance(2 * 86_400)
    api.token(fresh=True)
    later = {r["id"]: r["Days_Open"] for r in data(post(api, query))}
    assert later == {i: days + 2 for i, days in first.items()}


# -- Zoho's v8 OpenAPI spec ------------------------------------------------------------------------


def check(body: Any, oas_schema: Any, name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(body, oas_schema("coql", name))


def test_answer_matches_the_v8_spec(reader, oas_schema):
    fields = (
        "Last_Name, Owner, Created_By, Modified_By, Created_Time, Modified_Time, "
        "Annual_Revenue, Product_Interest, Partner_Account, Email_Opt_Out"
    )
    body = post(reader, f"select {fields} from Leads where id is not null").json()
    check(body, oas_schema, "Response_Wrapper")
    assert set(body["info"]) == {"count", "more_records"}


def test_spec_check_catches_a_wrong_answer(reader, oas_schema):
    good = post(
        reader, "select Created_By, Last_Name from Leads where id is not null limit 2"
    ).json()
    jsonschema = pytest.importorskip("jsonschema")
    first = good["data"][0]
    for broken in (
        {**good, "data": [{**first, "id": int(first["id"])}]},
        {**good, "data": [{**first, "Created_By": {"id": first["Created_By"]["id"]}}]},
        {**good, "info": {**good["info"], "count": "2"}},
        {**good, "data": {"0": first}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check(broken, oas_schema, "Response_Wrapper")


@pytest.mark.parametrize(
    ("query", "schema"),
    [
        ("select id from Leads", "Syntax_Exception"),
        ("select id from Leads where id is nul", "Syntax_Exception"),
        ("select id from Leads where id is not null limit 2001", "Limit_Exceeded_Exception"),
        ("select Testing from Leads where id is not null", "Invalid_Query_Exception"),
        ("select id from Leads where id is not null order by id, id", "Duplicate_Data_Exception"),
    ],
)
def test_errors_match_the_v8_spec(reader, oas_schema, query, schema):
    check(post(reader, query).json(), oas_schema, schema)


# -- memory --------------------------------------------------------------------------------------


def test_a_query_streams_the_module_instead_of_loading_it():
    """50,000 leads ordered by a time: the heap holds offset+count+1 sort keys, never a key
    per record of the module (sorting them all peaks near 11 MiB here, the heap below 2 MiB;
    the module's records as the oracle's dicts take about 59 MiB)."""
    dataset = Dataset(seed=2, records=0, per_module={"Leads": 50_000})
    fields = "Last_Name, Email, Owner, Annual_Revenue"
    order = "order by Modified_Time desc"
    warm = planned(dataset, f"select {fields} from Leads where id is not null {order} limit 1")
    plan = planned(dataset, f"select {fields} from Leads where id is not null {order} limit 2000")
    assert isinstance(warm, coql.Plan)
    assert isinstance(plan, coql.Plan)
    snapshot = dataset.snapshot()
    coql.execute(dataset, warm, snapshot)  # draws the value pools, once per module
    tracemalloc.start()
    try:
        status, payload = coql.execute(dataset, plan, snapshot)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200
    assert json.loads(payload)["info"] == {"count": 2000, "more_records": True}
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB"
