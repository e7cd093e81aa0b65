"""The accounts server: refresh grant, token errors with HTTP 200, expiry, scopes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tap_zoho_bulk.simulator import DEFAULT_REFRESH_TOKEN, run_simulator

TOKEN = re.compile(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}")


def test_refresh_grant_in_query_string(api):
    response = api.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "api_domain", "token_type", "expires_in", "scope"}
    assert TOKEN.fullmatch(body["access_token"])
    assert body["api_domain"] == api.sim.base_url
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    assert set(body["scope"].split()) == {
        "ZohoCRM.modules.ALL",
        "ZohoCRM.settings.ALL",
        "ZohoCRM.bulk.ALL",
        "ZohoCRM.coql.READ",
    }


def test_refresh_grant_in_form_body(api):
    response = api.session.post(
        f"{api.sim.accounts_url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": api.sim.client_id,
            "client_secret": api.sim.client_secret,
            "refresh_token": api.sim.refresh_token,
        },
    )
    assert TOKEN.fullmatch(response.json()["access_token"])


def test_each_refresh_gives_a_new_working_token(api):
    first, second = api.token(), api.token(fresh=True)
    assert first != second
    for token in (first, second):
        response = api.session.get(
            f"{api.sim.base_url}/crm/v8/settings/modules",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"refresh_token": "1000.simulator.revoked"}, "invalid_code"),
        ({"client_id": "1000.OTHER"}, "invalid_client"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_token_errors_are_http_200_with_error_key(api, override, error):
    response = api.token_response(**override)
    assert (response.status_code, response.json()) == (200, {"error": error})


def test_default_credentials_do_not_look_like_real_tokens():
    assert not TOKEN.fullmatch(DEFAULT_REFRESH_TOKEN)


def test_access_token_expires_on_the_simulated_clock(make_api):
    with run_simulator(records=5, token_lifetime=120) as sim:
        api = make_api(sim)
        assert api.get("/crm/v8/settings/modules").status_code == 200
        sim.advance(121)
        response = api.get("/crm/v8/settings/modules")
        assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")
        api.token(fresh=True)
        assert api.get("/crm/v8/settings/modules").status_code == 200


def test_expire_tokens_invalidates_every_token(api):
    assert api.get("/crm/v8/settings/modules").status_code == 200
    api.sim.expire_tokens()
    assert api.get("/crm/v8/settings/modules").json()["code"] == "INVALID_TOKEN"


def test_responses_say_when_the_token_expires(api):
    body = api.token_response().json()
    response = api.session.get(
        f"{api.sim.base_url}/crm/v8/settings/modules",
        headers={"Authorization": f"Zoho-oauthtoken {body['access_token']}"},
    )
    reset = datetime.fromisoformat(response.headers["X-ACCESSTOKEN-RESET"])
    assert reset.utcoffset() == timedelta(hours=5, minutes=30)
    remaining = (reset - datetime.now(reset.tzinfo)).total_seconds()
    assert 3590 <= remaining <= 3600


@pytest.mark.parametrize(
    ("scopes", "path", "allowed"),
    [
        (["ZohoCRM.settings.modules.READ"], "/crm/v8/settings/modules", True),
        (["ZohoCRM.settings.fields.READ"], "/crm/v8/settings/modules", False),
        (["zohocrm.settings.fields.all"], "/crm/v8/settings/fields?module=Leads", True),
        (["ZohoCRM.bulk.ALL"], "/crm/v8/settings/modules", False),
        (["ZohoCRM.bulk.CREATE"], "/crm/bulk/v8/write/4150868000005350003", True),
        (["ZohoCRM.bulk.read"], "/crm/bulk/v8/write/4150868000005350003", False),
    ],
)
def test_metadata_and_write_scopes(api, make_api, scopes, path, allowed):
    narrow = make_api(api.sim, api.sim.add_refresh_token(scopes=scopes))
    response = narrow.get(path)
    if allowed:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")


@pytest.mark.parametrize(
    ("scopes", "module", "allowed"),
    [
        (["ZohoCRM.bulk.read", "ZohoCRM.modules.READ"], "Leads", True),
        (["ZohoCRM.bulk.READ", "ZohoCRM.modules.leads.READ"], "Leads", True),
        (["ZohoCRM.bulk.read", "ZohoCRM.modules.leads.READ"], "Contacts", False),
        (["ZohoCRM.bulk.read", "ZohoCRM.modules.custom.READ"], "Shipments", True),
        (["ZohoCRM.bulk.read"], "Leads", False),
        (["ZohoCRM.modules.ALL"], "Leads", False),
    ],
)
def test_bulk_read_needs_bulk_and_module_scopes(api, make_api, scopes, module, allowed):
    narrow = make_api(api.sim, api.sim.add_refresh_token(scopes=scopes))
    response = narrow.create("v8", {"module": module})
    if allowed:
        assert response.status_code == 201
        job_id = response.json()["data"][0]["details"]["id"]
        assert narrow.download("v8", job_id).status_code == 200
    else:
        assert (response.status_code, response.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")


def test_polling_another_modules_job_needs_its_scope(api, make_api):
    job_id = api.create_id("v8", {"module": "Contacts"})
    narrow = make_api(
        api.sim,
        api.sim.add_refresh_token(scopes=["ZohoCRM.bulk.read", "ZohoCRM.modules.leads.READ"]),
    )
    assert narrow.get(f"/crm/bulk/v8/read/{job_id}").json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert narrow.download("v8", job_id).json()["code"] == "OAUTH_SCOPE_MISMATCH"
