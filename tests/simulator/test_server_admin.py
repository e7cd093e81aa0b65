"""Admin endpoints, data changes over time, keep-alive transport, bulk write results."""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import struct
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from tap_zoho_bulk.simulator import run_simulator


def admin(api, method, name, body=None):
    return api.session.request(method, f"{api.sim.base_url}/__simulator__/{name}", json=body)


def test_stats_over_http_match_python(api):
    job_id = api.create_id("v8", {"module": "Leads"})
    api.rows("v8", job_id)
    stats = admin(api, "GET", "stats").json()
    assert stats["calls"] == {"token": 1, "create": 1, "download": 1}
    assert stats["credits_used"] == 51
    assert stats["jobs"] == [
        {
            "id": job_id,
            "version": "v8",
            "module": "Leads",
            "state": "COMPLETED",
            "page": 1,
            "user_id": api.sim.user.id,
            "count": 15,
            "more_records": True,
        }
    ]
    assert stats["bulk_write_jobs"] == api.sim.bulk_write_job_ids
    assert stats["jobs"] == api.sim.stats()["jobs"]


def test_admin_endpoints_need_no_auth_and_are_not_charged(api):
    assert admin(api, "GET", "stats").status_code == 200
    assert api.sim.stats()["credits_used"] == 0
    assert api.sim.stats()["calls"] == {}


def test_advance_over_http_moves_jobs(make_api):
    with run_simulator(records=5, job_seconds=50) as sim:
        api = make_api(sim)
        job_id = api.create_id("v2", {"module": "Leads"})
        assert api.job("v2", job_id)["state"] == "ADDED"
        moved = admin(api, "POST", "advance", {"seconds": 50})
        assert moved.json()["clock_offset_seconds"] == 50
        assert api.job("v2", job_id)["state"] == "COMPLETED"
        assert admin(api, "POST", "advance", {"seconds": -1}).status_code == 400
        assert admin(api, "POST", "advance", {"minutes": 1}).status_code == 400


def test_mutate_over_http_adds_and_modifies_records(api):
    before = api.sim.dataset.record_count("Leads")
    response = admin(api, "POST", "mutate", {"add": {"Leads": 5}, "modify": 2})
    assert response.status_code == 200
    assert api.sim.dataset.record_count("Leads") == before + 5
    job_id = api.create_id("v8", {"module": "Leads", "page": 3})
    assert api.job("v8", job_id)["result"]["count"] == before + 5 - 30
    assert admin(api, "POST", "mutate", {"add": "many"}).status_code == 400


def test_mutations_are_stamped_with_real_time_not_the_advanced_clock(api):
    api.sim.advance(10 * 86_400)
    api.sim.mutate(add={"Leads": 3})
    latest = max(record["Created_Time"] for record in api.sim.dataset.records("Leads"))
    assert latest <= datetime.now(UTC) + timedelta(seconds=1)


def test_expire_endpoints(api):
    first = api.create_id("v8", {"module": "Leads"})
    token = api.job("v8", first)["result"]["next_page_token"]
    assert admin(api, "POST", "expire-page-tokens").json() == {"expired": 1}
    assert api.create("v8", {"page_token": token}).status_code == 400
    assert admin(api, "POST", "expire-tokens").json() == {"expired": 1}
    assert api.get("/crm/v8/settings/modules").json()["code"] == "INVALID_TOKEN"


def test_keep_alive_serves_many_requests_on_one_connection(api):
    job_id = api.create_id("v8", {"module": "Leads"})
    parts = urlsplit(api.sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = api.headers()
    connection.request("GET", "/crm/v8/settings/modules", headers=headers)
    first = connection.getresponse()
    assert first.status == 200
    json.loads(first.read())
    sock = connection.sock
    for path, status in [
        (f"/crm/bulk/v8/read/{job_id}/result", 200),
        ("/crm/bulk/v8/rea/1", 404),
        ("/crm/v8/settings/fields?module=Home", 204),
        (f"/crm/bulk/v8/read/{job_id}", 200),
    ]:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        assert response.status == status
        response.read()
        assert connection.sock is sock
    body = json.dumps({"query": {"module": "Contacts"}}).encode()
    connection.request(
        "POST",
        "/crm/bulk/v8/read",
        body=iter([body[:10], body[10:]]),
        headers={**headers, "Content-Type": "application/json"},
        encode_chunked=True,
    )
    created = connection.getresponse()
    assert created.status == 201
    json.loads(created.read())
    assert connection.sock is sock
    connection.close()


def test_fields_204_for_configured_modules(make_api):
    with run_simulator(records=5, fields_no_content=("Contacts",)) as sim:
        api = make_api(sim)
        response = api.get("/crm/v8/settings/fields", params={"module": "Contacts"})
        assert (response.status_code, response.content) == (204, b"")
        leads = api.get("/crm/v8/settings/fields", params={"module": "Leads"})
        assert [f["api_name"] for f in leads.json()["fields"]] == [
            f.api_name for f in sim.dataset.modules["Leads"].fields
        ]


def test_modules_metadata_lists_the_catalog(api):
    modules = api.get("/crm/v8/settings/modules").json()["modules"]
    assert [m["api_name"] for m in modules] == list(api.sim.dataset.modules)
    single = api.get("/crm/v8/settings/modules/Leads").json()["modules"]
    assert single == [m for m in modules if m["api_name"] == "Leads"]


@pytest.mark.parametrize("version", ["v2", "v2.1", "v8"])
def test_bulk_write_jobs_in_every_status(api, version):
    modern = version != "v2"
    for status, job_id in api.sim.bulk_write_job_ids.items():
        job = api.get(f"/crm/bulk/{version}/write/{job_id}").json()
        assert (job["id"], job["status"]) == (job_id, status)
        resource = job["resource"][0]
        assert isinstance(resource["module"], dict) == modern
        assert ("result" in job) == (status == "COMPLETED")
        if status == "ADDED":
            assert "character_encoding" not in job
            assert resource["file"] == {"status": "ADDED"}


def test_bulk_write_result_is_consistent_with_its_counts(api):
    job_id = api.sim.bulk_write_job_ids["COMPLETED"]
    job = api.get(f"/crm/bulk/v2.1/write/{job_id}").json()
    url = job["result"]["download_url"]
    assert url.startswith(api.sim.base_url + "/")
    response = api.session.get(url, headers=api.headers())
    assert response.headers["Content-Type"] == "application/zip"
    counts = job["resource"][0]["file"]
    rows = api.zip_rows(response.content, f"Leads-{counts['name']}")
    mapped = [
        m["api_name"]
        for m in sorted(job["resource"][0]["field_mappings"], key=lambda m: m["index"])
    ]
    assert rows[0] == [*mapped, "STATUS", "RECORD_ID", "ERRORS"]
    data = rows[1:]
    assert len(data) == counts["total_count"]
    added = [r for r in data if r[-3] == "added"]
    skipped = [r for r in data if r[-3] == "skipped"]
    assert (len(added), len(skipped)) == (counts["added_count"], counts["skipped_count"])
    assert all(re.fullmatch(r"\d{19}", r[-2]) and r[-1] == "" for r in added)
    assert all(re.fullmatch(r"[A-Z_]+-\w+(:[A-Z_]+-\w+)*", r[-1]) for r in skipped)
    assert api.session.get(url).status_code == 401


def test_clients_hanging_up_mid_request_are_not_errors(api, capfd, caplog):
    job_id = api.create_id("v8", {"module": "Leads"})
    parts = urlsplit(api.sim.base_url)
    for request in (
        f"GET /crm/bulk/v8/read/{job_id}/result HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Zoho-oauthtoken {api.token()}\r\n\r\n",
        "GET /crm/v8/settings/modules HTTP/1.1\r\nHost: x\r\n",
    ):
        sock = socket.create_connection((parts.hostname, parts.port))
        sock.sendall(request.encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(0.2)  # let the handler threads meet the reset
    assert api.get("/crm/v8/settings/modules").status_code == 200
    assert "Traceback" not in capfd.readouterr().err
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
