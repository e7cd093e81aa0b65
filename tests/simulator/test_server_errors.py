"""Every error the simulator answers with, with Zoho's status codes and envelopes."""

from __future__ import annotations

import pytest

from tap_zoho_bulk.simulator import run_simulator


def envelope(code, message, details=None):
    return {
        "code": code,
        "details": {} if details is None else details,
        "message": message,
        "status": "error",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/crm/bulk/v9/read",
        "/crm/bulk/v2.2/read",
        "/crm/v8/settings/layouts",
        "/crm/bulk/v8/read/123/result/extra",
        "/",
    ],
)
def test_unknown_paths_are_invalid_url_pattern(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "INVALID_URL_PATTERN"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/crm/bulk/v8/read"),
        ("DELETE", "/crm/bulk/v8/read/1"),
        ("POST", "/crm/v8/settings/modules"),
        ("GET", "/oauth/v2/token"),
        ("PUT", "/crm/bulk/v2.1/write/1"),
    ],
)
def test_known_paths_with_wrong_method_are_invalid_request_method(api, method, path):
    response = api.request(method, path)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST_METHOD"


def test_missing_download_is_resource_not_found(api):
    response = api.download("v8", "4150868000005999999")
    assert response.status_code == 404
    assert response.json() == envelope(
        "RESOURCE_NOT_FOUND",
        "The requested resource doesn't exist.",
        {"resource": "4150868000005999999"},
    )


def test_download_before_completion_is_resource_not_found(make_api):
    with run_simulator(records=5, job_seconds=30) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        early = api.download("v8", job_id)
        assert (early.status_code, early.json()["details"]) == (404, {"resource": job_id})
        sim.advance(30)
        assert api.download("v8", job_id).status_code == 200


def test_unknown_bulk_write_job_is_404_on_v2(api):
    response = api.get("/crm/bulk/v2/write/4150868000005350999")
    assert response.status_code == 404
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "AUTHENTICATION_FAILURE"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "AUTHENTICATION_FAILURE"),
        ({"Authorization": "Zoho-oauthtoken"}, "AUTHENTICATION_FAILURE"),
        ({"Authorization": "Zoho-oauthtoken 1000.unknown.token"}, "INVALID_TOKEN"),
        ({"Authorization": "Bearer 1000.unknown.token"}, "INVALID_TOKEN"),
    ],
)
def test_bad_credentials_are_401(api, headers, code):
    response = api.session.get(f"{api.sim.base_url}/crm/v8/settings/modules", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert "X-ACCESSTOKEN-RESET" not in response.headers


def test_invalid_token_envelope(api):
    response = api.session.get(
        f"{api.sim.base_url}/crm/bulk/v8/read/1",
        headers={"Authorization": "Zoho-oauthtoken 1000.stale.token"},
    )
    assert response.json() == envelope("INVALID_TOKEN", "invalid oauth token")


def test_create_without_json_content_type_is_415(api):
    response = api.session.post(
        f"{api.sim.base_url}/crm/bulk/v8/read",
        headers=api.headers(),
        data=b'{"query": {"module": "Leads"}}',
    )
    assert response.status_code == 415
    assert response.json()["details"] == ["application/json"]


@pytest.mark.parametrize(
    ("body", "code", "details"),
    [
        (b"", "REQUEST_BODY_IS_EMPTY", {}),
        (b"{not json", "REQUEST_BODY_NOT_SUPPORTED", {}),
        (b"[]", "REQUEST_BODY_NOT_SUPPORTED", {}),
        (b"{}", "MANDATORY_NOT_FOUND", {"api_name": "query"}),
        (b'{"query": {}}', "MANDATORY_NOT_FOUND", {"api_name": "module"}),
        (b'{"query": {"module": 5}}', "INVALID_REQUEST", {"api_name": "module"}),
        (b'{"query": {"module": "Leads", "page": 0}}', "INVALID_REQUEST", {"api_name": "page"}),
        (
            b'{"query": {"module": "Leads", "fields": "a"}}',
            "INVALID_REQUEST",
            {"api_name": "fields"},
        ),
        (
            b'{"query": {"module": "Leads", "criteria": []}}',
            "INVALID_REQUEST",
            {"api_name": "criteria"},
        ),
        (
            b'{"query": {"module": "Leads"}, "file_type": "ics"}',
            "INVALID_REQUEST",
            {"api_name": "file_type"},
        ),
    ],
)
def test_malformed_create_bodies_are_400(api, body, code, details):
    response = api.session.post(
        f"{api.sim.base_url}/crm/bulk/v8/read",
        headers={**api.headers(), "Content-Type": "application/json"},
        data=body,
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["details"]) == (code, details)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"module": "Notes"}, "MODULE_NOT_SUPPORTED"),
        ({"module": "Nope"}, "MODULE_NOT_AVAILABLE"),
        ({"module": "Leads", "fields": ["No_Such_Field"]}, "FIELD_NOT_AVAILABLE"),
        ({"module": "Leads", "fields": ["Documents"]}, "FIELD_NOT_SUPPORTED"),
        (
            {
                "module": "Leads",
                "criteria": {"api_name": "Email_Opt_Out", "comparator": "contains", "value": True},
            },
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
        ),
        (
            {
                "module": "Leads",
                "criteria": {
                    "group_operator": "and",
                    "group": [
                        {"api_name": "Last_Name", "comparator": "equal", "value": str(n)}
                        for n in range(26)
                    ],
                },
            },
            "CRITERIA_LIMIT_EXCEEDED",
        ),
        (
            {
                "module": "Leads",
                "criteria": {
                    "api_name": "Modified_Time",
                    "comparator": "greater_equal",
                    "value": "2024-01-01T00:00:00.123Z",
                },
            },
            "FIELD_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
        ),
    ],
)
def test_validation_errors_come_back_with_their_envelope(api, query, code):
    response = api.create("v8", query)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"]) == (code, "error")
    assert set(body) == {"code", "details", "message", "status"}
    assert api.sim.stats()["jobs"] == []


def test_no_permission_module_is_403(make_api):
    with run_simulator(records=5, no_permission_modules=("Deals",)) as sim:
        api = make_api(sim)
        response = api.create("v8", {"module": "Deals"})
        assert response.status_code == 403
        assert response.json() == envelope("NO_PERMISSION", "Permission denied to read")
        assert api.create("v8", {"module": "Leads"}).status_code == 201


def test_unknown_module_metadata_is_invalid_module(api):
    response = api.get("/crm/v8/settings/fields", params={"module": "Nope"})
    assert response.status_code == 400
    assert response.json() == envelope(
        "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": 0}
    )
    assert api.get("/crm/v8/settings/modules/Nope").json()["code"] == "INVALID_MODULE"


def test_fields_without_module_is_required_param_missing(api):
    response = api.get("/crm/v8/settings/fields")
    assert response.status_code == 400
    assert response.json()["details"] == {"param_name": "module"}


def test_internal_errors_are_500_with_zoho_envelope(api):
    api.sim.faults.add("poll:500:once")
    response = api.get("/crm/bulk/v8/read/1")
    assert response.status_code == 500
    assert response.json() == envelope("INTERNAL_ERROR", "Internal Server Error")
