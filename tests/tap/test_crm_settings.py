"""Discovery's two metadata calls, settings/modules and settings/fields, as the zoho layer reads
them: what the simulator serves, Zoho's 204 No Content, and a malformed answer refused in one
line (in the call itself and on the command line)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.errors import ZohoAPIError
from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.crm_settings import list_modules, module_fields
from tests.reliability.support import assert_clear_error, run_tap
from tests.tap.harness import config_for, simulator

V8 = ApiVersion.parse("v8")


class FixedAnswers(http.server.ThreadingHTTPServer):
    """A loopback API domain that answers every GET of a path with a fixed JSON body."""

    def __init__(self, bodies: dict[str, Any]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(bodies[self.path.split("?", 1)[0]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


MALFORMED = {
    "/crm/v8/settings/modules": {"modules": "x"},
    "/crm/v8/settings/fields": {"fields": [1]},
}
LEADS_ONLY = {
    "/crm/v8/settings/modules": {"modules": [{"api_name": "Leads", "api_supported": True}]}
}


@pytest.fixture
def malformed() -> Iterator[FixedAnswers]:
    server = FixedAnswers(MALFORMED)
    yield server
    server.shutdown()
    server.server_close()


def client_of(sim: Simulator, **config: Any) -> ZohoClient:
    """The tap's own client, without the discovery that building the tap would run."""
    tap = TapZohoBulk(config=config_for(sim, modules=["Leads"], **config), setup_mapper=False)
    return tap.client


def served(client: ZohoClient, path: str, **params: str) -> Any:
    response = client.request("GET", path, kind="modules", stream="test", params=params or None)
    return response.json() if response.status_code != 204 and response.content else None


def test_list_modules_reads_every_module_the_simulator_serves(sim: Simulator) -> None:
    client = client_of(sim)
    modules = list_modules(client, V8, stream="discovery")
    raw = served(client, "/crm/v8/settings/modules")["modules"]
    keys = ("api_name", "api_supported", "generated_type", "module_name", "plural_label")
    assert [tuple(getattr(m, k) for k in keys) for m in modules] == [
        tuple(m[k] for k in keys) for m in raw
    ]
    assert {m.generated_type for m in modules} >= {"default"}
    assert any(not m.api_supported for m in modules)  # listed all the same; the tap filters


def test_module_fields_are_the_fields_the_simulator_serves(sim: Simulator) -> None:
    client = client_of(sim)
    fields = module_fields(client, V8, "Leads", stream="Leads")
    raw = served(client, "/crm/v8/settings/fields", module="Leads")["fields"]
    assert fields == raw
    assert fields
    assert all(isinstance(f["api_name"], str) for f in fields)


def test_module_fields_are_none_when_zoho_answers_204() -> None:
    with simulator(records=5, fields_no_content=("Deals",)) as sim:
        client = client_of(sim)
        assert module_fields(client, V8, "Deals", stream="Deals") is None
        assert module_fields(client, V8, "Leads", stream="Leads")


def test_a_malformed_answer_is_one_line_naming_the_call(
    sim: Simulator, malformed: FixedAnswers
) -> None:
    client = client_of(sim, api_domain=malformed.url)
    with pytest.raises(ZohoAPIError) as modules_error:
        list_modules(client, V8, stream="discovery")
    with pytest.raises(ZohoAPIError) as fields_error:
        module_fields(client, V8, "Leads", stream="Leads")
    for raised, call in ((modules_error, "modules call"), (fields_error, "fields call")):
        text = str(raised.value)
        assert "\n" not in text
        assert raised.value.code == "UNEXPECTED_RESPONSE"
        assert call in text, text
        assert "not shaped as Zoho documents it" in text
    assert "$.modules" in str(modules_error.value)
    assert "$.fields[0]" in str(fields_error.value)


@pytest.mark.parametrize(
    ("fields", "call"),
    [(MALFORMED, "modules call"), ({**MALFORMED, **LEADS_ONLY}, "fields call")],
    ids=["modules", "fields"],
)
def test_discovery_of_a_malformed_answer_fails_in_one_line(
    sim: Simulator, tmp_path: Path, fields: dict[str, Any], call: str
) -> None:
    server = FixedAnswers(fields)
    try:
        run = run_tap(tmp_path, {**sim.tap_config(), "api_domain": server.url}, args=["--discover"])
    finally:
        server.shutdown()
        server.server_close()
    assert_clear_error(run, "not shaped as Zoho documents it", call)
