"""Secrets never leave the tap except to Zoho, TLS is always verified, result ZIPs are not
trusted, and the simulator listens on loopback only.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import secrets
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tap_zoho_bulk
from tap_zoho_bulk.errors import UnsafeURLError, ZohoTapError
from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tests.reliability.support import assert_clear_error, expected_ids, run_tap
from tests.tap.harness import config_for, simulator, sync

MODULES = ["Contacts", "Leads"]
SOURCE = Path(tap_zoho_bulk.__file__).parent


class Spy(http.server.ThreadingHTTPServer):
    """An HTTP server that records every request it gets and answers with `reply`."""

    def __init__(self, host: str, reply: tuple[int, dict[str, str]] = (200, {})) -> None:
        self.requests: list[dict[str, str]] = []
        self.reply = reply
        spy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                spy.requests.append(dict(self.headers))
                status, headers = spy.reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        super().__init__((host, 0), Handler)
        self.url = f"http://{host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def spies() -> Iterator[list[Spy]]:
    started: list[Spy] = []
    yield started
    for spy in started:
        spy.shutdown()
        spy.server_close()


def spy(spies: list[Spy], host: str, reply: tuple[int, dict[str, str]] = (200, {})) -> Spy:
    server = Spy(host, reply)
    spies.append(server)
    return server


# -- secrets --------------------------------------------------------------------------------


@pytest.fixture
def secret_sim() -> Iterator[Simulator]:
    """A simulator whose client secret and refresh token are random, so a find is a leak."""
    options = {"client_secret": secrets.token_hex(16), "refresh_token": secrets.token_hex(20)}
    with simulator(seed=41, records=70, page_size=25, **options) as sim:
        yield sim


# Faults that make the tap mint tokens, retry and report errors. One module, so its calls come
# one after another: two expiries racing could refuse a token minted a moment before, which
# Zoho does not do (the tap then stops, as it must on a token refused twice).
LEAKY_FAULTS = [
    "token:503:once",
    "token:throttle:nth=2",
    "create:expire-token:nth=2",
    "poll:expire-token:nth=4",
    "download:expire-token:nth=3",
    "create:503:nth=3",
    "download:reset:nth=2",
    "download:truncate:nth=4",
    "poll:429:every=5",
]


def test_no_secret_or_token_in_any_output(
    secret_sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = secret_sim
    config = config_for(sim, modules=["Contacts"])
    outputs: list[str] = []

    for spec in LEAKY_FAULTS:
        sim.faults.add(spec)
    debug = run_tap(tmp_path, config, env={"LOGLEVEL": "DEBUG"})
    assert debug.returncode == 0, debug.stderr[-2000:]
    outputs += [debug.stdout, debug.stderr, json.dumps(debug.state)]

    sim.faults.clear()
    sim.faults.add("create:fail-job:once")  # an error message with Zoho's reason in it
    failed = run_tap(tmp_path, {**config, "read_mode": "bulk"}, state=debug.state)
    assert failed.returncode != 0
    outputs += [failed.stdout, failed.stderr]

    for args in (["--about"], ["--about", "--format=json"], ["--about", "--format=markdown"]):
        about = run_tap(tmp_path, config, args=args)
        outputs += [about.stdout, about.stderr]
    discovered = run_tap(tmp_path, config, args=["--discover"])
    outputs += [discovered.stdout, discovered.stderr]

    sim.faults.add("fail-module:Leads")
    with caplog.at_level(logging.DEBUG), pytest.raises(ZohoTapError) as raised:
        sync(config_for(sim, modules=MODULES))
    outputs += [str(raised.value), repr(raised.value), caplog.text]

    issued = sim.app.tokens.issued_values()
    assert len(issued) >= 5  # expiries made the tap mint tokens again and again
    text = "\n".join(outputs)
    for name, value in [
        ("client_secret", sim.client_secret),
        ("refresh_token", sim.refresh_token),
        *(("access token", token) for token in issued),
    ]:
        assert value not in text, f"the {name} leaked"
    assert not re.search(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}", text)


@pytest.mark.parametrize("wrong", ["client_secret", "refresh_token"])
def test_refused_credentials_are_not_echoed(sim: Simulator, tmp_path: Path, wrong: str) -> None:
    value = secrets.token_hex(16)
    run = run_tap(tmp_path, config_for(sim, modules=["Leads"], **{wrong: value}))
    assert_clear_error(run, "Zoho rejected")
    assert value not in run.stdout + run.stderr


# -- where the access token may go ----------------------------------------------------------


def client_for(sim: Simulator) -> TapZohoBulk:
    return TapZohoBulk(config=config_for(sim, modules=["Leads"], request_max_tries=1))


def test_a_download_url_on_another_host_is_refused_before_any_request(
    sim: Simulator, tmp_path: Path, spies: list[Spy]
) -> None:
    tap = client_for(sim)
    port = sim.base_url.rsplit(":", 1)[1]
    elsewhere = [
        spy(spies, "127.0.0.2").url,  # another host
        spy(spies, "127.0.0.1").url,  # the API host, but another port (another service)
        f"https://127.0.0.1:{port}",  # the API's host and port, another scheme
    ]
    lookalikes = [
        "https://www.zohoapis.com.evil.example",
        "https://evilzohoapis.com",
        "http://www.zohoapis.com",  # Zoho's host, but the token would travel in clear text
        "https://user@evil.example",
    ]
    for base in elsewhere + lookalikes:
        with pytest.raises(UnsafeURLError, match="Refusing to send the Zoho access token"):
            tap.client.download(
                f"{base}/crm/bulk/v8/read/1/result",
                tmp_path / "x.zip",
                kind="download",
                stream="Leads",
            )
    assert [s.requests for s in spies] == [[], []]
    assert tap.client.calls["download"] == 0
    assert not (tmp_path / "x.zip").exists()


def test_a_redirect_is_not_followed_with_the_token(sim: Simulator, spies: list[Spy]) -> None:
    target = spy(spies, "127.0.0.2")
    redirector = spy(spies, "127.0.0.1", (302, {"Location": f"{target.url}/steal"}))
    config = config_for(sim, modules=["Leads"], api_domain=redirector.url, request_max_tries=1)
    with pytest.raises(ZohoTapError, match="redirected"):
        TapZohoBulk(config=config)  # discovery asks the redirector for the modules
    assert len(redirector.requests) == 1
    assert target.requests == []


# -- TLS ------------------------------------------------------------------------------------


def test_tls_verification_is_never_switched_off() -> None:
    disabling = re.compile(
        r"verify\s*=\s*(False|0|None)|CERT_NONE|_create_unverified_context|check_hostname\s*=\s*False"
        r"|disable_warnings|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|\.verify\s*="
    )
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{number}: {line.strip()}"
        for path in sorted(SOURCE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if disabling.search(line)
    ]
    assert offenders == []


def test_sessions_verify_certificates(sim: Simulator) -> None:
    tap = client_for(sim)
    sessions = {id(s): s for s in (tap.client._session, tap.client._tokens._session)}
    assert sessions
    assert all(session.verify is True for session in sessions.values())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_a_self_signed_accounts_server_is_refused(tmp_path: Path, spies: list[Spy]) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = spy(spies, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    https = server.url.replace("http://", "https://")
    config = {
        "client_id": "id",
        "client_secret": secrets.token_hex(8),
        "refresh_token": secrets.token_hex(8),
        "accounts_url": https,
        "api_domain": https,
        "modules": ["Leads"],
        "request_max_tries": 1,
    }
    run = run_tap(tmp_path, config, args=["--discover"])
    assert run.returncode != 0
    assert "SSLError" in run.stderr
    assert server.requests == []  # the handshake failed: no request, no credentials, sent


# -- result ZIPs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("zip-slip", "path-like ZIP member name"),
        ("extra-member", "holds exactly one member"),
        ("zip-bomb", "decompression bomb"),
    ],
)
def test_an_unsafe_result_is_refused_unread_and_the_rerun_completes(
    sim: Simulator, tmp_path: Path, action: str, reason: str
) -> None:
    sim.faults.add(f"download:{action}:nth=2")  # page 2 of the one module
    env = {"TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    failed = run_tap(tmp_path, config_for(sim, modules=["Contacts"]), env=env)
    assert_clear_error(failed, "Refusing the result of job", "'Contacts' page 2", reason)
    assert len(failed.result.ids("Contacts")) == 25  # page 1 only: nothing of the refused page
    assert list(tmp_path.rglob("*.csv")) == []  # nothing was extracted, wherever its name led

    sim.faults.clear()
    rerun = run_tap(tmp_path, config_for(sim, modules=["Contacts"]), state=failed.state, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    emitted = set(failed.result.ids("Contacts")) | set(rerun.result.ids("Contacts"))
    assert emitted == expected_ids(sim, "Contacts")


# -- the simulator --------------------------------------------------------------------------


def test_the_simulator_listens_on_loopback_by_default() -> None:
    # The command line's default is tested in tests/simulator/test_server_cli.py; this is the
    # in-process default, which `use_simulator` relies on.
    with Simulator(records=1) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
    tap = TapZohoBulk(config={"use_simulator": True, "simulator_records": 1})
    assert tap.connection.api_domain is not None
    assert tap.connection.api_domain.startswith("http://127.0.0.1:")
