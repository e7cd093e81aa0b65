"""Each captured Zoho sample reproduced key for key, at every level, for the same request.

The JSON bodies below are copied from the seed captures (Postman collection items and Zoho doc
pages, see the reference's source index): 000 GET v2 bulk-read job + gateway errors, 001 create
job v2.1 + 415, 002 v2 job in each state, 003 v2.1 bulk-write job + errors, 004 v2 bulk-write jobs
(one long download URL is shortened; only its type matters here).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_zoho_bulk.simulator import run_simulator

SEEDS: dict[str, Any] = json.loads(
    r"""
{
 "000_job_completed_v2": {
  "data": [
   {
    "id": "4150868000005376042",
    "operation": "read",
    "state": "COMPLETED",
    "result": {
     "page": 1,
     "per_page": 200000,
     "count": 96,
     "download_url": "/crm/bulk/v2/read/4150868000005376042/result",
     "more_records": false
    },
    "query": {
     "fields": [
      "Last_Name",
      "Owner",
      "Owner.last_name",
      "Account_Name.Account_Name",
      "Account_Name.Phone",
      "Lead_Source",
      "Created_Time"
     ],
     "module": "Contacts",
     "criteria": {
      "group": [
       {
        "api_name": "Lead_Source",
        "comparator": "equal",
        "value": "Advertisement"
       },
       {
        "api_name": "Owner.last_name",
        "comparator": "equal",
        "value": "Boyle"
       },
       {
        "api_name": "Account_Name.Phone",
        "comparator": "contains",
        "value": "5"
       }
      ],
      "group_operator": "or"
     },
     "page": 1
    },
    "created_by": {
     "id": "4150868000000225013",
     "name": "Patricia Boyle"
    },
    "created_time": "2021-05-12T17:25:29+05:30",
    "file_type": "csv"
   }
  ]
 },
 "000_invalid_url_pattern": {
  "code": "INVALID_URL_PATTERN",
  "details": {},
  "message": "Please check if the URL trying to access is a correct one",
  "status": "error"
 },
 "000_invalid_request_method": {
  "code": "INVALID_REQUEST_METHOD",
  "details": {},
  "message": "The http request method type is not a valid one",
  "status": "error"
 },
 "000_resource_not_found": {
  "status": "error",
  "code": "RESOURCE_NOT_FOUND",
  "message": "The requested resource doesn't exist.",
  "details": {
   "resource": "415086800000537604"
  }
 },
 "001_request_v2_style": {
  "callback": {
   "url": "https://www.example.com/callback",
   "method": "post"
  },
  "query": {
   "module": "Contacts",
   "fields": [
    "Last_Name",
    "Owner",
    "Owner.last_name",
    "Account_Name.Account_Name",
    "Account_Name.Phone",
    "Lead_Source",
    "Created_Time"
   ],
   "criteria": {
    "group_operator": "or",
    "group": [
     {
      "api_name": "Lead_Source",
      "comparator": "equal",
      "value": "Advertisement"
     },
     {
      "api_name": "Owner.last_name",
      "comparator": "equal",
      "value": "Boyle"
     },
     {
      "api_name": "Account_Name.Phone",
      "comparator": "contains",
      "value": "5"
     }
    ]
   },
   "page": 1
  }
 },
 "001_request_v21_style": {
  "callback": {
   "url": "https://www.example.com/callback",
   "method": "post"
  },
  "query": {
   "module": {
    "api_name": "Leads"
   },
   "cvid": "4150868000000087501",
   "fields": [
    "Last_Name",
    "Owner",
    "Owner.last_name",
    "$converted",
    "Lead_Source",
    "Lead_Status",
    "Company",
    "Email",
    "Mobile",
    "Created_Time"
   ],
   "criteria": {
    "group": [
     {
      "field": {
       "api_name": "Last_Name"
      },
      "comparator": "equal",
      "value": "Patricia"
     },
     {
      "field": {
       "api_name": "Email"
      },
      "comparator": "equal",
      "value": "patricia.b@zylker.com"
     }
    ],
    "group_operator": "and"
   }
  }
 },
 "001_created": {
  "data": [
   {
    "status": "success",
    "code": "ADDED_SUCCESSFULLY",
    "message": "Added successfully.",
    "details": {
     "id": "4150868000005277059",
     "operation": "read",
     "state": "ADDED",
     "created_by": {
      "id": "4150868000000225013",
      "name": "Patricia Boyle"
     },
     "created_time": "2021-05-03T18:32:25+05:30"
    }
   }
  ],
  "info": {}
 },
 "001_media_type_not_supported": {
  "status": "error",
  "code": "MEDIA_TYPE_NOT_SUPPORTED",
  "message": "Media type is not supported.",
  "details": [
   "application/json"
  ]
 },
 "002_job_added_v2": {
  "data": [
   {
    "id": "3652397000000646004",
    "operation": "read",
    "state": "ADDED",
    "query": {
     "fields": [
      "Last_Name",
      "Owner",
      "Owner.last_name",
      "Account_Name.Account_Name",
      "Account_Name.Phone",
      "Lead_Source",
      "Created_Time"
     ],
     "module": "Contacts",
     "criteria": {
      "group": [
       {
        "api_name": "Lead_Source",
        "comparator": "equal",
        "value": "Advertisement"
       },
       {
        "api_name": "Owner.last_name",
        "comparator": "equal",
        "value": "Boyle"
       },
       {
        "api_name": "Account_Name.Phone",
        "comparator": "contains",
        "value": "5"
       }
      ],
      "group_operator": "or"
     },
     "page": 1
    },
    "created_by": {
     "id": "3652397000000186017",
     "name": "Patricia Boyle"
    },
    "created_time": "2019-04-01T14:20:04+05:30"
   }
  ]
 },
 "002_job_in_progress_v2": {
  "data": [
   {
    "id": "3652397000000646004",
    "operation": "read",
    "state": "IN PROGRESS",
    "query": {
     "fields": [
      "Last_Name",
      "Owner",
      "Owner.last_name",
      "Account_Name.Account_Name",
      "Account_Name.Phone",
      "Lead_Source",
      "Created_Time"
     ],
     "module": "Contacts",
     "criteria": {
      "group": [
       {
        "api_name": "Lead_Source",
        "comparator": "equal",
        "value": "Advertisement"
       },
       {
        "api_name": "Owner.last_name",
        "comparator": "equal",
        "value": "Boyle"
       },
       {
        "api_name": "Account_Name.Phone",
        "comparator": "contains",
        "value": "5"
       }
      ],
      "group_operator": "or"
     },
     "page": 1
    },
    "created_by": {
     "id": "3652397000000186017",
     "name": "Patricia Boyle"
    },
    "created_time": "2019-04-01T14:22:04+05:30"
   }
  ]
 },
 "002_job_completed_v2": {
  "data": [
   {
    "id": "3652397000000646004",
    "operation": "read",
    "state": "COMPLETED",
    "result": {
     "page": 1,
     "count": 20,
     "download_url": "/crm/bulk/v2/read/3652397000000646004/result",
     "per_page": 200000,
     "more_records": false
    },
    "query": {
     "fields": [
      "Last_Name",
      "Owner",
      "Owner.last_name",
      "Account_Name.Account_Name",
      "Account_Name.Phone",
      "Lead_Source",
      "Created_Time"
     ],
     "module": "Contacts",
     "criteria": {
      "group": [
       {
        "api_name": "Lead_Source",
        "comparator": "equal",
        "value": "Advertisement"
       },
       {
        "api_name": "Owner.last_name",
        "comparator": "equal",
        "value": "Boyle"
       },
       {
        "api_name": "Account_Name.Phone",
        "comparator": "contains",
        "value": "5"
       }
      ],
      "group_operator": "or"
     },
     "page": 1
    },
    "created_by": {
     "id": "3652397000000186017",
     "name": "Patricia Boyle"
    },
    "created_time": "2019-04-01T14:24:04+05:30"
   }
  ]
 },
 "002_job_completed_cvid_v2": {
  "data": [
   {
    "id": "554023000000568002",
    "operation": "read",
    "state": "COMPLETED",
    "result": {
     "page": 1,
     "count": 3,
     "download_url": "/crm/bulk/v2/read/554023000000568002/result",
     "per_page": 200000,
     "more_records": false
    },
    "query": {
     "fields": [
      "Last_Name",
      "Owner",
      "Owner.last_name",
      "$converted",
      "Lead_Source",
      "Lead_Status",
      "Company",
      "Email",
      "Mobile",
      "Created_Time"
     ],
     "module": "Leads",
     "criteria": {
      "group": [
       {
        "api_name": "$converted",
        "comparator": "equal",
        "value": true
       },
       {
        "api_name": "Owner.last_name",
        "comparator": "equal",
        "value": "Patricia Boyle"
       }
      ],
      "group_operator": "and"
     },
     "page": 1,
     "cvid": "554023000000093005"
    },
    "created_by": {
     "id": "554023000000235011",
     "name": "Patricia Boyle"
    },
    "created_time": "2019-05-09T14:01:24+05:30"
   }
  ]
 },
 "003_write_completed_v21": {
  "status": "COMPLETED",
  "character_encoding": "UTF-8",
  "resource": [
   {
    "status": "COMPLETED",
    "type": "data",
    "module": {
     "id": "4150868000000002175",
     "api_name": "Leads"
    },
    "field_mappings": [
     {
      "api_name": "Owner",
      "index": 2,
      "format": null,
      "find_by": null,
      "module": null,
      "default_value": null
     },
     {
      "api_name": "Last_Name",
      "index": 0,
      "format": null,
      "find_by": null,
      "module": null,
      "default_value": null
     },
     {
      "api_name": "Mobile",
      "index": 1,
      "format": null,
      "find_by": null,
      "module": null,
      "default_value": null
     }
    ],
    "file": {
     "status": "COMPLETED",
     "name": "Fil2.csv",
     "added_count": 9,
     "skipped_count": 2,
     "updated_count": 0,
     "total_count": 11
    },
    "code": "COMPLETED"
   }
  ],
  "id": "4150868000005350003",
  "callback": {
   "url": "https://www.zoho.com/",
   "method": "post"
  },
  "result": {
   "download_url": "https://download-accl.zoho.com/v2/crm/694902309/bulk-write/4150868000005350003/…zip"
  },
  "created_by": {
   "id": "4150868000000225013",
   "name": "Patricia Boyle"
  },
  "ignore_empty": true,
  "operation": "insert",
  "created_time": "2021-05-11T12:38:29+05:30"
 },
 "003_authentication_failure": {
  "code": "AUTHENTICATION_FAILURE",
  "details": {},
  "message": "Authentication failed",
  "status": "error"
 },
 "003_resource_not_found": {
  "status": "error",
  "code": "RESOURCE_NOT_FOUND",
  "message": "The requested resource doesn't exist.",
  "details": {}
 },
 "003_oauth_scope_mismatch": {
  "code": "OAUTH_SCOPE_MISMATCH",
  "details": {},
  "message": "invalid oauth scope to access this URL",
  "status": "error"
 },
 "004_write_added_v2": {
  "status": "ADDED",
  "resource": [
   {
    "status": "INPROGRESS",
    "type": "data",
    "module": "Deals",
    "field_mappings": [
     {
      "api_name": "Deal_Name",
      "index": 1,
      "format": null,
      "find_by": null,
      "default_value": null
     },
     {
      "api_name": "Stage",
      "index": 132,
      "format": null,
      "find_by": null,
      "default_value": null
     }
    ],
    "file": {
     "status": "INPROGRESS"
    }
   }
  ],
  "id": "111111000002308098",
  "created_by": {
   "id": "111111000000035795",
   "name": "Patricia Boyle"
  },
  "operation": "insert",
  "created_time": "2019-01-30T02:21:32-12:00"
 },
 "004_write_in_progress_v2": {
  "status": "INPROGRESS",
  "character_encoding": "UTF-8",
  "resource": [
   {
    "status": "INPROGRESS",
    "type": "data",
    "module": "Deals",
    "field_mappings": [
     {
      "api_name": "Deal_Name",
      "index": 1,
      "format": null,
      "find_by": null,
      "default_value": null
     },
     {
      "api_name": "Stage",
      "index": 2,
      "format": null,
      "find_by": null,
      "default_value": null
     }
    ],
    "file": {
     "status": "INPROGRESS",
     "name": "Accounts.csv",
     "added_count": 0,
     "skipped_count": 100,
     "updated_count": 0,
     "total_count": 100
    }
   }
  ],
  "id": "111111000002308051",
  "created_by": {
   "id": "111111000000035795",
   "name": "Patricia Boyle"
  },
  "operation": "insert",
  "created_time": "2019-01-30T02:18:15-12:00"
 },
 "004_write_completed_v2": {
  "status": "COMPLETED",
  "character_encoding": "UTF-8",
  "resource": [
   {
    "status": "COMPLETED",
    "type": "data",
    "module": "Deals",
    "field_mappings": [
     {
      "api_name": "Deal_Name",
      "index": 1,
      "format": null,
      "find_by": null,
      "default_value": null
     },
     {
      "api_name": "Stage",
      "index": 2,
      "format": null,
      "find_by": null,
      "default_value": null
     }
    ],
    "file": {
     "status": "COMPLETED",
     "name": "Accounts.csv",
     "added_count": 0,
     "skipped_count": 100,
     "updated_count": 0,
     "total_count": 100
    }
   }
  ],
  "id": "111111000002308051",
  "result": {
   "download_url": "/v2/crm/org6196138/bulk-write/111111000002308051/111111000002308051.zip"
  },
  "created_by": {
   "id": "111111000000035795",
   "name": "Patricia Boyle"
  },
  "operation": "insert",
  "created_time": "2019-01-30T02:18:15-12:00"
 }
}
"""
)


# The v2 doc samples (002, 2019) predate `file_type`, which the 2021 capture (000) carries on every
# job; the simulator follows the newer capture.
NEWER_THAN_002 = {"file_type"}


def shape_mismatches(expected: Any, actual: Any, path: str = "$", extra: frozenset = frozenset()):
    """Where `actual` differs from `expected` in keys (at any depth) or JSON type."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: object expected, got {actual!r}"]
        problems = []
        keys = set(actual) - (extra if path in ("$", "$.data[0]") else set())
        if set(expected) != keys:
            problems.append(f"{path}: keys {sorted(expected)} != {sorted(keys)}")
        for key in set(expected) & set(actual):
            problems += shape_mismatches(expected[key], actual[key], f"{path}.{key}", extra)
        return problems
    if isinstance(expected, list):
        # Lists hold alike elements (leaves, mappings): each must look like its counterpart, or
        # like the last sample element when the simulator's job has more of them.
        if not isinstance(actual, list) or bool(actual) != bool(expected):
            return [f"{path}: list like {expected!r} expected, got {actual!r}"]
        problems = []
        for n, got in enumerate(actual):
            want = expected[min(n, len(expected) - 1)]
            problems += shape_mismatches(want, got, f"{path}[{n}]", extra)
        return problems
    if expected is None or type(expected) is type(actual):
        return []
    return [f"{path}: {type(expected).__name__} expected, got {actual!r}"]


def assert_shape(seed: str, actual: Any, extra: frozenset = frozenset()) -> None:
    assert shape_mismatches(SEEDS[seed], actual, extra=extra) == []


def test_shape_comparison_catches_differences():
    seed = SEEDS["000_job_completed_v2"]
    changed = json.loads(json.dumps(seed))
    changed["data"][0]["query"]["module"] = {"api_name": "Contacts"}
    del changed["data"][0]["result"]["more_records"]
    problems = shape_mismatches(seed, changed)
    assert len(problems) == 2


def test_v2_job_completed_matches_seed_000(api):
    job_id = api.create_id("v2", SEEDS["001_request_v2_style"]["query"])
    response = api.get(f"/crm/bulk/v2/read/{job_id}")
    assert response.status_code == 200
    assert_shape("000_job_completed_v2", response.json())
    job = response.json()["data"][0]
    assert job["query"] == SEEDS["000_job_completed_v2"]["data"][0]["query"]
    assert job["result"]["download_url"] == f"/crm/bulk/v2/read/{job_id}/result"


def test_create_matches_seed_001(api):
    request = SEEDS["001_request_v21_style"]
    response = api.create("v2.1", request["query"], callback=request["callback"])
    assert response.status_code == 201
    assert_shape("001_created", response.json())
    details = response.json()["data"][0]["details"]
    assert details["state"] == "ADDED"
    assert details["created_by"] == {"id": api.sim.user.id, "name": "Patricia Boyle"}


def test_v2_job_in_every_state_matches_seed_002(make_api):
    with run_simulator(seed=3, records=40, job_seconds=100) as sim:
        api = make_api(sim)
        job_id = api.create_id("v2", SEEDS["001_request_v2_style"]["query"])
        extra = frozenset(NEWER_THAN_002)
        assert_shape("002_job_added_v2", {"data": [api.job("v2", job_id)]}, extra)
        sim.advance(60)
        assert_shape("002_job_in_progress_v2", {"data": [api.job("v2", job_id)]}, extra)
        sim.advance(50)
        assert_shape("002_job_completed_v2", {"data": [api.job("v2", job_id)]}, extra)


def test_v2_job_with_cvid_matches_seed_002(api):
    query = SEEDS["002_job_completed_cvid_v2"]["data"][0]["query"]
    job_id = api.create_id("v2", query)
    job = api.job("v2", job_id)
    assert_shape("002_job_completed_cvid_v2", {"data": [job]}, frozenset(NEWER_THAN_002))
    assert job["query"] == query


@pytest.mark.parametrize(
    ("seed", "status", "method", "path"),
    [
        ("000_invalid_url_pattern", 404, "GET", "/crm/bulk/v2/rea/4150868000005376042"),
        ("000_invalid_request_method", 400, "COPY", "/crm/bulk/v2/read/4150868000005376042"),
        ("000_resource_not_found", 404, "GET", "/crm/bulk/v2/read/415086800000537604"),
    ],
)
def test_bulk_read_errors_match_seed_000(api, seed, status, method, path):
    response = api.request(method, path)
    assert response.status_code == status
    assert response.json() == SEEDS[seed]


def test_gateway_errors_have_their_status_and_content_type(api):
    missing = api.get("/crm/bulk/v2/rea/4150868000005376042")
    wrong_method = api.request("COPY", "/crm/bulk/v2/read/4150868000005376042")
    assert (missing.status_code, wrong_method.status_code) == (404, 400)
    assert missing.headers["Content-Type"] == "application/json;charset=utf-8"
    assert "X-ACCESSTOKEN-RESET" not in missing.headers


def test_media_type_matches_seed_001(api):
    response = api.session.post(
        f"{api.sim.base_url}/crm/bulk/v2.1/read",
        headers={**api.headers(), "Content-Type": "text/plain"},
        data=json.dumps(SEEDS["001_request_v2_style"]),
    )
    assert response.status_code == 415
    assert response.json() == SEEDS["001_media_type_not_supported"]


def test_v21_bulk_write_job_matches_seed_003(api):
    job_id = api.sim.bulk_write_job_ids["COMPLETED"]
    response = api.get(f"/crm/bulk/v2.1/write/{job_id}")
    assert response.status_code == 200
    assert_shape("003_write_completed_v21", response.json())


def test_bulk_write_errors_match_seed_003(api, make_api):
    job_id = api.sim.bulk_write_job_ids["COMPLETED"]
    url = f"{api.sim.base_url}/crm/bulk/v2.1/write/{job_id}"
    no_auth = api.session.get(url)
    assert (no_auth.status_code, no_auth.json()) == (401, SEEDS["003_authentication_failure"])
    missing = api.get("/crm/bulk/v2.1/write/415086800000535000")
    assert (missing.status_code, missing.json()) == (400, SEEDS["003_resource_not_found"])
    narrow = make_api(api.sim, api.sim.add_refresh_token(scopes=["ZohoCRM.modules.ALL"]))
    denied = narrow.get(f"/crm/bulk/v2.1/write/{job_id}")
    assert (denied.status_code, denied.json()) == (401, SEEDS["003_oauth_scope_mismatch"])


@pytest.mark.parametrize(
    ("status", "seed"),
    [
        ("ADDED", "004_write_added_v2"),
        ("INPROGRESS", "004_write_in_progress_v2"),
        ("COMPLETED", "004_write_completed_v2"),
    ],
)
def test_v2_bulk_write_jobs_match_seed_004(api, status, seed):
    response = api.get(f"/crm/bulk/v2/write/{api.sim.bulk_write_job_ids[status]}")
    assert response.status_code == 200
    assert_shape(seed, response.json())
    assert response.json()["status"] == status
