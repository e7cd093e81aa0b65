"""Deleting records (admin `mutate`) and Zoho's `GET /crm/{version}/{module}/deleted`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tap_zoho_bulk.simulator import run_simulator
from tap_zoho_bulk.simulator.catalog import USERS
from tap_zoho_bulk.simulator.faults import parse_fault

VERSIONS = ["v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8"]
ENTRY_KEYS = ["deleted_by", "id", "display_name", "type", "created_by", "deleted_time"]
IST = timezone(timedelta(hours=5, minutes=30))
NAMES = {user.id: user.full_name for user in USERS}
# Zoho's v8 OpenAPI spec lives beside the project, never inside it (no licence is stated).


def mutate(api, body):
    return api.session.post(f"{api.sim.base_url}/__simulator__/mutate", json=body)


def deleted(api, module="Leads", version="v8", since=None, **params):
    headers = api.headers()
    if since is not None:
        headers["If-Modified-Since"] = since
    return api.session.get(
        f"{api.sim.base_url}/crm/{version}/{module}/deleted", headers=headers, params=params
    )


def listed(api, module="Leads", **params) -> list[dict[str, Any]]:
    response = deleted(api, module, **params)
    if response.status_code == 204:
        return []
    assert response.status_code == 200, response.text
    return response.json()["data"]


def job_ids(api, query, version="v8") -> list[str]:
    """Record ids of one bulk read page (the whole module with the default page size)."""
    job_id = api.create_id(version, query)
    return [row[0] for row in api.rows(version, job_id)[1:]]


@pytest.fixture
def big_page(make_api):
    """A simulator whose one bulk read page holds a whole module."""
    with run_simulator(seed=3, records=40) as sim:
        yield make_api(sim)


# -- the admin API ---------------------------------------------------------------------------


def test_delete_by_count_everywhere_per_module_and_by_id(big_page):
    api = big_page
    everywhere = mutate(api, {"delete": 2})
    assert everywhere.status_code == 200, everywhere.text
    done = everywhere.json()
    assert set(done) == {"Leads", "Contacts", "Accounts", "Deals", "Tasks", "Shipments",
                         "Visit_Logs"}  # fmt: skip
    for module, answer in done.items():
        assert answer["added"] == answer["modified"] == 0
        assert len(set(answer["deleted"])) == 2
        assert set(answer) == {"added", "modified", "deleted"}
        assert api.sim.dataset.record_count(module) == (2 if module == "Visit_Logs" else 38)
    contact = job_ids(api, {"module": "Contacts"})[5]
    done = mutate(api, {"delete": {"Leads": 3, "Contacts": [contact]}}).json()
    assert set(done) == {"Leads", "Contacts"}
    assert len(done["Leads"]["deleted"]) == 3
    assert done["Contacts"] == {"added": 0, "modified": 0, "deleted": [contact]}
    assert api.sim.dataset.record_count("Leads") == 35
    python = api.sim.mutate(delete={"Deals": 1}, permanent=True)
    assert [entry["type"] for entry in listed(api, "Deals")] == ["permanent", "recycle", "recycle"]
    assert python["Deals"]["deleted"] == [listed(api, "Deals")[0]["id"]]


def test_deletions_mix_with_adds_and_modifications(big_page):
    api = big_page
    done = mutate(api, {"add": {"Leads": 5}, "modify": {"Leads": 4}, "delete": {"Leads": 6}})
    answer = done.json()["Leads"]
    assert (answer["added"], answer["modified"], len(answer["deleted"])) == (5, 4, 6)
    live = job_ids(api, {"module": "Leads"})
    assert len(live) == 40 + 5 - 6
    assert not set(answer["deleted"]) & set(live)


@pytest.mark.parametrize(
    "body",
    [
        {"delete": "many"},
        {"delete": -1},
        {"delete": {"Leads": "3"}},
        {"delete": {"Leads": [4150868100000000001]}},
        {"delete": {"Nope": 1}},
        {"delete": {"Leads": ["4150868100000000999"]}},  # no such record
        {"delete": {"Leads": ["4150868110000000001"]}},  # a Contacts id
        {"delete": {"Leads": ["41508681000000000x1"]}},
        {"delete": {"Leads": ["4150868100000000002"]}, "permanent": "yes"},
        {"purge": {"Leads": ["4150868100000000003"]}},  # live, not in the recycle bin
        {"restore": {"Leads": ["4150868100000000003"]}},
        {"remove": 1},
        [1],
    ],
)
def test_bad_mutations_answer_400_and_change_nothing(big_page, body):
    api = big_page
    before = job_ids(api, {"module": "Leads"})
    response = mutate(api, body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert job_ids(api, {"module": "Leads"}) == before
    assert deleted(api).status_code == 204


def test_ids_in_the_wrong_state_are_refused_before_anything_changes(big_page):
    api = big_page
    first, second = mutate(api, {"delete": {"Leads": 2}}).json()["Leads"]["deleted"]
    for body in (
        {"delete": {"Leads": [first]}},  # already in the recycle bin
        {"purge": {"Leads": [first]}, "restore": {"Leads": [first]}},
        {"delete": {"Leads": 1, "Contacts": ["4150868100000000001"]}},
    ):
        response = mutate(api, body)
        assert response.status_code == 400, body
    assert api.sim.dataset.record_count("Leads") == 38
    assert api.sim.dataset.record_count("Contacts") == 40
    assert {e["id"]: e["type"] for e in listed(api)} == {first: "recycle", second: "recycle"}
    in_the_bin = mutate(api, {"delete": {"Leads": [second]}, "permanent": True})
    assert in_the_bin.status_code == 400
    assert {e["id"]: e["type"] for e in listed(api)} == {first: "recycle", second: "recycle"}


# -- deleted records and Bulk Read -------------------------------------------------------------


def test_deleted_records_leave_new_jobs_while_older_jobs_keep_their_snapshot(big_page):
    api = big_page
    older = api.create_id("v8", {"module": "Leads"})  # not downloaded yet: written lazily
    everything = job_ids(api, {"module": "Leads"})
    gone = mutate(api, {"delete": {"Leads": 5}}).json()["Leads"]["deleted"]
    assert set(gone) <= set(everything)
    live = [i for i in everything if i not in gone]
    assert job_ids(api, {"module": "Leads"}) == live
    criteria = {"api_name": "Created_Time", "comparator": "greater_than",
                "value": "2000-01-01T00:00:00+00:00"}  # fmt: skip
    assert job_ids(api, {"module": "Leads", "criteria": criteria}) == live
    assert api.job("v8", api.create_id("v8", {"module": "Leads"}))["result"]["count"] == 35
    assert [row[0] for row in api.rows("v8", older)[1:]] == everything
    assert [r["Id"] for r in api.sim.dataset.records("Leads")] == live


def test_pages_after_deletions_hold_every_live_record_once(api):
    everything = [r["Id"] for r in api.sim.dataset.records("Leads")]
    gone = api.sim.mutate(delete={"Leads": 7})["Leads"]["deleted"]
    seen: list[str] = []
    for page in (1, 2, 3):
        job_id = api.create_id("v2", {"module": "Leads", "page": page})
        job = api.job("v2", job_id)
        seen += [row[0] for row in api.rows("v2", job_id)[1:]]
        assert job["result"]["more_records"] is (page < 3)
    assert seen == [i for i in everything if i not in gone]
    assert len(seen) == 33


def test_modifications_never_pick_deleted_records(make_api):
    with run_simulator(seed=5, records=20) as sim:
        gone = set(sim.mutate(delete={"Tasks": 15})["Tasks"]["deleted"])
        before = {r["Id"]: r["Modified_Time"] for r in sim.dataset.records("Tasks")}
        assert len(before) == 5
        done = sim.mutate(modify={"Tasks": 10})
        assert done["Tasks"]["modified"] == 5
        after = {r["Id"]: r["Modified_Time"] for r in sim.dataset.records("Tasks")}
        assert set(after) == set(before)
        assert not gone & set(after)
        assert all(after[i] != before[i] for i in before)


def test_restore_brings_records_back_as_they_were(big_page):
    api = big_page
    before = {r["Id"]: r for r in api.sim.dataset.records("Leads")}
    gone = api.sim.mutate(delete={"Leads": 3})["Leads"]["deleted"]
    done = api.sim.mutate(restore={"Leads": gone[:1]})
    assert done["Leads"]["restored"] == gone[:1]
    assert {e["id"] for e in listed(api)} == set(gone[1:])
    after = {r["Id"]: r for r in api.sim.dataset.records("Leads")}
    assert after[gone[0]] == before[gone[0]]  # Modified_Time included: restoring moves nothing
    assert set(job_ids(api, {"module": "Leads"})) == set(before) - set(gone[1:])
    # By count: the oldest deletions first (one second here, so in id order).
    assert api.sim.mutate(restore=5)["Leads"]["restored"] == sorted(gone[1:], key=int)
    assert deleted(api).status_code == 204
    assert len(job_ids(api, {"module": "Leads"})) == 40


def test_purge_makes_deletions_permanent_and_forgets_the_details(big_page):
    api = big_page
    gone = api.sim.mutate(delete={"Leads": 3})["Leads"]["deleted"]
    recycled = {e["id"]: e for e in listed(api)}
    done = mutate(api, {"purge": {"Leads": gone[:1]}}).json()
    assert done == {"Leads": {"added": 0, "modified": 0, "purged": gone[:1]}}
    entries = {e["id"]: e for e in listed(api)}
    purged = entries[gone[0]]
    assert purged["type"] == "permanent"
    assert (purged["display_name"], purged["created_by"]) == (None, None)
    assert purged["deleted_time"] == recycled[gone[0]]["deleted_time"]
    assert purged["deleted_by"] == recycled[gone[0]]["deleted_by"]
    assert [e["id"] for e in listed(api, type="permanent")] == gone[:1]
    assert {e["id"] for e in listed(api, type="recycle")} == set(gone[1:])
    assert mutate(api, {"restore": {"Leads": gone[:1]}}).status_code == 400
    purged_by_count = mutate(api, {"purge": {"Leads": 5}}).json()["Leads"]["purged"]
    assert purged_by_count == sorted(gone[1:], key=int)  # oldest first; one second: id order
    assert deleted(api, type="recycle").status_code == 204
    assert len(listed(api, type="permanent")) == 3


def test_the_recycle_bin_turns_permanent_after_60_days(big_page):
    api = big_page
    gone = api.sim.mutate(delete={"Leads": 2})["Leads"]["deleted"]
    api.sim.advance(59 * 86_400)
    api.token(fresh=True)  # the first one expired on the way
    assert {e["type"] for e in listed(api)} == {"recycle"}
    api.sim.advance(2 * 86_400)
    api.token(fresh=True)
    entries = listed(api)
    assert {e["id"] for e in entries} == set(gone)
    assert all(
        (e["type"], e["display_name"], e["created_by"]) == ("permanent", None, None)
        for e in entries
    )
    assert mutate(api, {"restore": {"Leads": gone}}).status_code == 400


# -- GET /crm/{version}/{module}/deleted ----------------------------------------------------------


def test_entries_say_who_deleted_what_and_when(big_page):
    api = big_page
    leads = [r["Id"] for r in api.sim.dataset.records("Leads")]
    accounts = [r["Id"] for r in api.sim.dataset.records("Accounts")]
    ahead = datetime.now(UTC).replace(microsecond=0)
    gone = api.sim.mutate(delete={"Leads": 2, "Accounts": 1})
    entries = listed(api)
    assert [e["id"] for e in entries] == sorted(gone["Leads"]["deleted"], reverse=True)
    for entry in entries:
        assert list(entry) == ENTRY_KEYS
        assert entry["type"] == "recycle"
        index = leads.index(entry["id"])
        first = api.sim.dataset.value("Leads", index, "First_Name")
        last = api.sim.dataset.value("Leads", index, "Last_Name")
        assert entry["display_name"] == " ".join(n for n in (first, last) if n)
        creator = str(api.sim.dataset.value("Leads", index, "Created_By"))
        assert entry["created_by"] == {"name": NAMES[creator], "id": creator}
        assert entry["deleted_by"]["name"] == NAMES[entry["deleted_by"]["id"]]
        assert list(entry["deleted_by"]) == ["name", "id"]
        when = datetime.fromisoformat(entry["deleted_time"])
        assert when.utcoffset() == timedelta(hours=5, minutes=30)
        assert ahead <= when <= datetime.now(UTC)
    account = listed(api, "Accounts")[0]
    index = accounts.index(account["id"])
    assert account["display_name"] == api.sim.dataset.value("Accounts", index, "Account_Name")
    assert deleted(api, "Contacts").status_code == 204


def test_paging_with_a_small_per_page(big_page):
    api = big_page
    gone = api.sim.mutate(delete={"Leads": 7})["Leads"]["deleted"]
    seen = []
    for page, count, more in ((1, 3, True), (2, 3, True), (3, 1, False)):
        response = deleted(api, per_page=3, page=page)
        assert response.status_code == 200
        body = response.json()
        assert body["info"] == {"per_page": 3, "count": count, "page": page, "more_records": more}
        assert len(body["data"]) == count
        seen += [e["id"] for e in body["data"]]
    assert seen == sorted(gone, reverse=True)
    beyond = deleted(api, per_page=3, page=4)
    assert (beyond.status_code, beyond.content) == (204, b"")
    assert "Content-Type" not in beyond.headers
    info = deleted(api).json()["info"]
    assert info == {"per_page": 200, "count": 7, "page": 1, "more_records": False}
    exact = deleted(api, per_page=7).json()["info"]  # a full last page has no more records
    assert exact == {"per_page": 7, "count": 7, "page": 1, "more_records": False}


def test_nothing_deleted_is_204_no_content(api):
    response = deleted(api)
    assert (response.status_code, response.content) == (204, b"")


@pytest.mark.parametrize(
    ("params", "header", "details"),
    [
        ({"type": "bin"}, None, {"param_name": "type"}),
        ({"page": "0"}, None, {"param_name": "page"}),
        ({"page": "x"}, None, {"param_name": "page"}),
        ({"per_page": "201"}, None, {"param_name": "per_page"}),
        ({"per_page": "0"}, None, {"param_name": "per_page"}),
        ({}, "yesterday", {"header_name": "If-Modified-Since"}),
        ({}, "Sat, 01 Mar 2025 12:00:00 GMT", {"header_name": "If-Modified-Since"}),
    ],
)
def test_bad_parameters_are_invalid_data(api, params, header, details):
    response = deleted(api, since=header, **params)
    assert response.status_code == 400
    assert response.json() == {
        "code": "INVALID_DATA",
        "details": details,
        "message": "invalid data",
        "status": "error",
    }


def test_if_modified_since_keeps_later_deletions(make_api):
    # Deletions stamped at chosen seconds of the last hour (the recycle bin keeps them).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    with run_simulator(seed=3, records=40, now=start) as sim:
        api = make_api(sim)
        early, late = start + timedelta(seconds=100), start + timedelta(seconds=200)
        first = set(sim.dataset.mutate(now=early, delete={"Leads": 2})["Leads"]["deleted"])
        second = set(sim.dataset.mutate(now=late, delete={"Leads": 3})["Leads"]["deleted"])
        times = {e["id"]: e["deleted_time"] for e in listed(api)}
        assert {times[i] for i in first} == {early.astimezone(IST).isoformat()}
        assert {times[i] for i in second} == {late.astimezone(IST).isoformat()}

        def since(moment: datetime, **params: str) -> set[str]:
            response = deleted(api, since=moment.isoformat(), **params)
            if response.status_code == 204:
                assert response.content == b""
                return set()
            assert response.status_code == 200, response.text
            return {e["id"] for e in response.json()["data"]}

        second_before = timedelta(seconds=1)
        assert since(early.astimezone(IST)) == second  # strictly after the instant
        assert since(early) == second
        assert since(early.astimezone(timezone(timedelta(hours=-8))) - second_before) == (
            first | second
        )
        assert since(early.astimezone(IST).replace(tzinfo=None)) == second  # the org's offset
        assert since(early.replace(tzinfo=None)) == first | second  # read as +05:30: earlier
        assert since(late - timedelta(milliseconds=500)) == second
        assert since(late) == set()
        assert since(early, type="recycle") == second
        assert since(early, type="permanent") == set()
        zulu = deleted(api, since=early.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert {e["id"] for e in zulu.json()["data"]} == second


@pytest.mark.parametrize("version", VERSIONS)
def test_every_api_version_serves_it(big_page, version):
    api = big_page
    api.sim.mutate(delete={"Shipments": 2})
    response = deleted(api, "Shipments", version)
    assert response.status_code == 200
    assert response.json() == deleted(api, "Shipments", "v8").json()
    assert deleted(api, "Shipments", version, type="permanent").status_code == 204


def test_unknown_and_unsupported_modules_are_invalid_module(api):
    for module in ("Nope", "Home"):
        response = deleted(api, module)
        assert response.status_code == 400
        assert response.json() == {
            "code": "INVALID_MODULE",
            "details": {"resource_path_index": 0},
            "message": "the module name given seems to be invalid",
            "status": "error",
        }
    assert api.get("/crm/v9/Leads/deleted").status_code == 404
    wrong = api.session.post(f"{api.sim.base_url}/crm/v8/Leads/deleted", headers=api.headers())
    assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_REQUEST_METHOD")


def test_each_call_costs_two_credits(api):
    api.sim.mutate(delete={"Leads": 1})
    assert deleted(api).status_code == 200
    assert deleted(api, "Deals").status_code == 204
    stats = api.sim.stats()
    assert stats["credits_used"] == 4
    assert stats["calls"] == {"token": 1, "deleted": 2}
    assert deleted(api, type="bin").status_code == 400  # errors cost what others' do
    assert api.sim.stats()["credits_used"] == 5
    api.sim.faults.add("deleted:429:once")
    assert deleted(api).status_code == 429
    assert api.sim.stats()["credits_used"] == 5


@pytest.mark.parametrize(
    ("scopes", "module", "allowed"),
    [
        (["ZohoCRM.modules.ALL"], "Leads", True),
        (["ZohoCRM.modules.READ"], "Deals", True),
        (["ZohoCRM.modules.leads.READ"], "Leads", True),
        (["ZohoCRM.modules.Leads.ALL"], "Leads", True),
        (["ZohoCRM.modules.leads.READ"], "Deals", False),
        (["ZohoCRM.modules.custom.READ"], "Shipments", True),
        (["ZohoCRM.modules.custom.READ"], "Leads", False),
        (["ZohoCRM.bulk.ALL", "ZohoCRM.settings.ALL"], "Leads", False),
        (["ZohoCRM.modules.leads.READ"], "Nope", False),
    ],
)
def test_module_read_scope_is_needed(api, make_api, scopes, module, allowed):
    narrow = make_api(api.sim, api.sim.add_refresh_token(scopes=scopes))
    response = deleted(narrow, module)
    if allowed:
        assert response.status_code == 204
    else:
        assert (response.status_code, response.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")


def test_faults_can_target_the_route(api):
    assert parse_fault("deleted:503:every=2").target == "deleted"
    api.sim.mutate(delete={"Leads": 1})
    api.sim.faults.add("deleted:503:once")
    api.sim.faults.add("deleted:500:nth=3")
    statuses = [deleted(api).status_code for _ in range(4)]
    assert statuses == [503, 200, 500, 200]
    assert api.sim.stats()["faults_fired"] == {"deleted:503:once": 1, "deleted:500:nth=3": 1}
    api.sim.faults.add("deleted:reset")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        deleted(api)
    api.sim.faults.add("deleted:truncate")
    truncated = deleted(api)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):  # a complete response whose JSON is cut in half
        truncated.json()
    assert deleted(api).status_code == 200


def test_admin_mutate_over_http_and_answers_in_the_documented_form(big_page):
    api = big_page
    response = mutate(api, {"delete": {"Tasks": 2}, "permanent": True})
    assert response.status_code == 200
    assert list(response.json()["Tasks"]) == ["added", "modified", "deleted"]
    assert {e["type"] for e in listed(api, "Tasks")} == {"permanent"}
    assert mutate(api, {}).json() == {}


# -- Zoho's v8 OpenAPI spec ------------------------------------------------------------------------


def spec_schema(oas_schema: Any, *, permanent: bool) -> dict[str, Any]:
    """record.json's Deleted_Records_Wrapper as JSON Schema, references resolved locally.

    The spec (generated from Zoho's samples) types `display_name` as a string and `created_by`
    as a user. Zoho forgets both once a record is deleted for good (its published sample shows
    null for `permanent` entries), so `permanent=True` lets exactly those two be null. Entries
    may carry no key the spec does not name.
    """
    schema = oas_schema("record", "Deleted_Records_Wrapper")
    entry = schema["properties"]["data"]["items"]
    entry["additionalProperties"] = False
    if permanent:
        for key in ("display_name", "created_by"):
            entry["properties"][key] = {"anyOf": [entry["properties"][key], {"type": "null"}]}
    return schema


def check_against_spec(body: dict[str, Any], oas_schema: Any, *, permanent: bool) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(body, spec_schema(oas_schema, permanent=permanent))
    for entry in body["data"]:
        moment = datetime.fromisoformat(entry["deleted_time"])  # format: date-time, with offset
        assert moment.utcoffset() is not None


def test_answer_matches_the_v8_spec_schema(big_page, oas_schema):
    api = big_page
    api.sim.mutate(delete={"Leads": 3})
    check_against_spec(deleted(api).json(), oas_schema, permanent=False)
    api.sim.mutate(delete={"Leads": 2}, permanent=True)
    check_against_spec(deleted(api).json(), oas_schema, permanent=True)
    check_against_spec(deleted(api, type="permanent").json(), oas_schema, permanent=True)


def test_spec_check_catches_a_wrong_answer(big_page, oas_schema):
    api = big_page
    api.sim.mutate(delete={"Leads": 1})
    jsonschema = pytest.importorskip("jsonschema")
    good = deleted(api).json()
    for broken in (
        {**good, "data": [{**good["data"][0], "deleted_by": {"id": "1"}}]},
        {**good, "data": [{**good["data"][0], "extra": 1}]},
        {**good, "info": {**good["info"], "count": "1"}},
        {**good, "data": [{**good["data"][0], "display_name": None}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check_against_spec(broken, oas_schema, permanent=False)
