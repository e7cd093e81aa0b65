"""Every fault kind, every trigger, and the three ways to configure them."""

from __future__ import annotations

import http.client
import time
import zipfile
from io import BytesIO
from urllib.parse import urlsplit

import pytest

from tap_zoho_bulk.simulator import run_simulator
from tap_zoho_bulk.simulator.faults import FaultSpecError, parse_fault


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("download:503", ("download", "503", "once", 1, 0.0, 0.0)),
        ("any:500:every=3", ("any", "500", "every", 3, 0.0, 0.0)),
        ("create:429:first=2", ("create", "429", "first", 2, 0.0, 0.0)),
        ("poll:502:rate=0.25", ("poll", "502", "rate", 1, 0.25, 0.0)),
        ("modules:slow=1.5:always", ("modules", "slow", "always", 1, 0.0, 1.5)),
        ("token:throttle:nth=4", ("token", "throttle", "nth", 4, 0.0, 0.0)),
    ],
)
def test_specs_parse(spec, expected):
    fault = parse_fault(spec)
    assert not isinstance(fault, str)
    assert (fault.target, fault.action, fault.trigger, fault.n, fault.rate, fault.delay) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "download",
        "nowhere:500",
        "download:418",
        "poll:throttle",
        "poll:500:every=0",
        "poll:500:rate=2",
        "poll:500:once=3",
        "poll:500:sometimes",
        "poll:slow=abc",
        "fail-module:",
        "poll:500:once:extra",
    ],
)
def test_bad_specs_are_refused_with_a_message(spec):
    with pytest.raises(FaultSpecError, match="fault"):
        parse_fault(spec)


def modules_statuses(api, calls):
    return [api.get("/crm/v8/settings/modules").status_code for _ in range(calls)]


@pytest.mark.parametrize(
    ("spec", "statuses"),
    [
        ("modules:503:once", [503, 200, 200, 200, 200, 200]),
        ("modules:500:every=3", [200, 200, 500, 200, 200, 500]),
        ("modules:502:first=2", [502, 502, 200, 200, 200, 200]),
        ("modules:429:nth=2", [200, 429, 200, 200, 200, 200]),
        ("modules:500:always", [500] * 6),
    ],
)
def test_triggers(api, spec, statuses):
    api.token()
    api.sim.faults.add(spec)
    assert modules_statuses(api, 6) == statuses
    fired = len(statuses) - statuses.count(200)
    assert api.sim.stats()["faults_fired"] == {parse_fault(spec).spec: fired}


def test_rate_trigger_is_reproducible_from_the_seed(make_api):
    runs = []
    for _ in range(2):
        with run_simulator(seed=9, records=5) as sim:
            api = make_api(sim)
            api.token()
            sim.faults.add("modules:503:rate=0.5")
            runs.append(modules_statuses(api, 30))
    assert runs[0] == runs[1]
    assert 5 <= runs[0].count(503) <= 25


def test_gateway_faults_answer_html_and_429_answers_json(api):
    api.token()
    api.sim.faults.add("modules:502:once")
    api.sim.faults.add("fields:429:once")
    bad_gateway = api.get("/crm/v8/settings/modules")
    assert bad_gateway.headers["Content-Type"] == "text/html"
    too_many = api.get("/crm/v8/settings/fields", params={"module": "Leads"})
    assert too_many.json()["code"] == "TOO_MANY_REQUESTS"


def test_token_throttle(api):
    api.sim.faults.add("token:throttle:once")
    throttled = api.token_response()
    assert throttled.status_code == 400
    assert throttled.json() == {
        "error": "Access Denied",
        "error_description": (
            "You have made too many requests continuously. Please try again after some time."
        ),
    }
    assert "access_token" in api.token_response().json()


def raw_download(api, job_id):
    """GET the result with http.client, returning (announced length, bytes read, error)."""
    parts = urlsplit(api.sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", f"/crm/bulk/v8/read/{job_id}/result", headers=api.headers())
    response = connection.getresponse()
    announced = int(response.headers["Content-Length"])
    try:
        body, error = response.read(), None
    except (http.client.IncompleteRead, ConnectionResetError) as exc:
        body, error = b"", exc
    connection.close()
    return announced, body, error


def test_connection_reset_mid_download(make_api):
    with run_simulator(records=200, page_size=200) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        sim.faults.add("download:reset:once")
        announced, body, error = raw_download(api, job_id)
        assert error is not None
        assert body == b""
        complete = api.download("v8", job_id)
        assert len(complete.content) == announced
        assert zipfile.ZipFile(BytesIO(complete.content)).testzip() is None


def test_truncated_zip_is_a_complete_response_with_cut_bytes(make_api):
    with run_simulator(records=200, page_size=200) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        sim.faults.add("download:truncate:once")
        truncated = api.download("v8", job_id)
        assert truncated.status_code == 200
        assert int(truncated.headers["Content-Length"]) == len(truncated.content)
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(BytesIO(truncated.content))
        complete = api.download("v8", job_id).content
        assert complete[: len(truncated.content)] == truncated.content
        assert len(truncated.content) == len(complete) // 2


def test_slow_responses(api):
    api.token()
    api.sim.faults.add("modules:slow=0.3:once")
    started = time.monotonic()
    assert api.get("/crm/v8/settings/modules").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    api.get("/crm/v8/settings/modules")
    assert time.monotonic() - started < 0.3


def test_failing_module_fault(api):
    api.sim.faults.add("fail-module:Leads")
    assert api.job("v8", api.create_id("v8", {"module": "Leads"}))["state"] == "FAILURE"
    assert api.job("v8", api.create_id("v8", {"module": "Contacts"}))["state"] == "COMPLETED"


def test_token_expiring_mid_run(api):
    job_id = api.create_id("v8", {"module": "Leads"})
    api.sim.faults.add("poll:expire-token:once")
    expired = api.get(f"/crm/bulk/v8/read/{job_id}")
    assert (expired.status_code, expired.json()["code"]) == (401, "INVALID_TOKEN")
    api.token(fresh=True)
    assert api.job("v8", job_id)["state"] == "COMPLETED"


def test_page_token_expiring_mid_run(api):
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    api.sim.faults.add("create:expire-page-token:once")
    response = api.create("v8", {"page_token": token})
    assert response.json()["message"] == "the given page_token is invalid or expired"


def test_any_target_counts_every_kind(api):
    api.sim.faults.add("any:503:nth=2")
    api.token()
    assert api.get("/crm/v8/settings/modules").status_code == 503
    assert api.get("/crm/v8/settings/modules").status_code == 200


def test_faults_over_the_admin_api_and_clearing(api):
    admin = f"{api.sim.base_url}/__simulator__/faults"
    added = api.session.post(admin, json={"specs": ["modules:500:always", "fail-module:Deals"]})
    assert added.status_code == 200
    assert added.json()["failing_modules"] == ["Deals"]
    assert api.get("/crm/v8/settings/modules").status_code == 500
    assert api.session.post(admin, json={"spec": "modules:999"}).status_code == 400
    cleared = api.session.delete(admin)
    assert cleared.json() == {"faults": [], "failing_modules": []}
    assert api.get("/crm/v8/settings/modules").status_code == 200
    assert api.session.get(admin).json()["faults"] == []


def test_clear_from_python(api):
    api.token()
    api.sim.faults.add("modules:500:always")
    api.sim.faults.clear()
    assert api.get("/crm/v8/settings/modules").status_code == 200
