"""The edges of HTTP: a token request that is redirected, hosts that cannot be reached, Zoho's
download lockout shared by two extractors, and one clear line on every command-line path.
"""

from __future__ import annotations

import http.server
import logging
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.errors import DownloadLockedError, ZohoTapError
from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tap_zoho_bulk.zoho.client import DownloadLimiter, ZohoClient
from tests.reliability.support import CliRun, assert_clear_error, assert_exact, run_tap
from tests.tap.harness import config_for, simulator

FAST_ENOUGH = 10.0  # seconds: the tap's start-up plus one failed call, never a minute of retries


class Recorder(http.server.ThreadingHTTPServer):
    """An HTTP server that records every request it gets and answers `status` with `headers`."""

    def __init__(self, host: str, status: int = 200, headers: dict[str, str] | None = None):
        self.requests: list[tuple[str, str, bytes]] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorder.requests.append((self.command, self.path, self.rfile.read(length)))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = answer

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        super().__init__((host, 0), Handler)
        self.url = f"http://{host}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def servers() -> Iterator[list[Recorder]]:
    started: list[Recorder] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def dead_port() -> int:
    """A loopback port nobody listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def credentials(**overrides: Any) -> dict[str, Any]:
    """A config with random credentials (a find in the output is a leak) and default retries."""
    return {
        "client_id": "1000.TESTCLIENT",
        "client_secret": secrets.token_hex(16),
        "refresh_token": secrets.token_hex(20),
        "modules": ["Leads"],
        **overrides,
    }


def timed_run(tmp_path: Path, config: dict[str, Any], args: list[str]) -> tuple[CliRun, float]:
    started = time.monotonic()
    run = run_tap(tmp_path, config, args=args)
    return run, time.monotonic() - started


def assert_one_error(run: CliRun, *fragments: str) -> None:
    """assert_clear_error, and no other ERROR line either."""
    assert_clear_error(run, *fragments)
    assert len([line for line in run.stderr.splitlines() if " ERROR " in line]) == 1, run.stderr


def assert_no_secret(run: CliRun, config: dict[str, Any]) -> None:
    for name in ("client_secret", "refresh_token"):
        assert config[name] not in run.stdout + run.stderr


# -- the token request is never redirected -----------------------------------------------------


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirected_token_request_is_not_followed(
    tmp_path: Path, servers: list[Recorder], status: int
) -> None:
    thief = Recorder("127.0.0.2")
    redirector = Recorder("127.0.0.1", status, {"Location": f"{thief.url}/oauth/v2/token"})
    servers += [thief, redirector]
    config = credentials(accounts_url=redirector.url)
    run = run_tap(tmp_path, config)
    assert thief.requests == []
    assert len(redirector.requests) == 1  # a redirect is an answer to act on, not to retry
    assert_one_error(run, "redirected", f"HTTP {status}", "127.0.0.2", "data_center")
    assert_no_secret(run, config)


# -- unreachable hosts ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--discover"]], ids=["sync", "discover"])
def test_a_refused_accounts_server_fails_at_once_naming_it(tmp_path: Path, args: list[str]) -> None:
    port = dead_port()
    config = credentials(accounts_url=f"http://127.0.0.1:{port}")
    run, seconds = timed_run(tmp_path, config, args)
    assert_one_error(run, f"http://127.0.0.1:{port}", "connection refused", "accounts_url")
    assert seconds < FAST_ENOUGH
    assert_no_secret(run, config)


@pytest.mark.parametrize("args", [[], ["--discover"]], ids=["sync", "discover"])
def test_an_unknown_accounts_host_fails_at_once_naming_it(tmp_path: Path, args: list[str]) -> None:
    config = credentials(accounts_url="https://accounts.zoho-tap-test.invalid")
    run, seconds = timed_run(tmp_path, config, args)
    assert_one_error(
        run, "https://accounts.zoho-tap-test.invalid:443", "did not resolve", "data_center"
    )
    assert seconds < FAST_ENOUGH


def test_a_refused_api_host_fails_at_once_naming_the_api_settings(
    sim: Simulator, tmp_path: Path
) -> None:
    port = dead_port()
    config = {**sim.tap_config(), "api_domain": f"http://127.0.0.1:{port}", "modules": ["Leads"]}
    run, seconds = timed_run(tmp_path, config, ["--discover"])
    assert_one_error(run, f"127.0.0.1:{port}", "refused", "environment", "api_domain")
    assert "accounts_url" not in run.stderr
    assert seconds < FAST_ENOUGH


def test_a_proxy_is_named_but_never_its_address(tmp_path: Path) -> None:
    password = secrets.token_hex(8)
    proxy = f"http://user:{password}@127.0.0.1:{dead_port()}"
    config = credentials(accounts_url="http://accounts.zoho-tap-test.invalid")
    run = run_tap(tmp_path, config, args=["--discover"], env={"HTTP_PROXY": proxy})
    assert_one_error(run, "accounts.zoho-tap-test.invalid", "HTTP_PROXY", "accounts_url")
    assert password not in run.stderr


def test_a_host_that_answered_once_is_retried_when_it_goes_away(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    tap = TapZohoBulk(config=config_for(sim, modules=["Leads"], request_max_tries=3))
    assert tap.client.request("GET", "/crm/v8/settings/modules", kind="modules", stream="x")
    sim.stop()
    with caplog.at_level(logging.WARNING), pytest.raises(ZohoTapError) as raised:
        tap.client.request("GET", "/crm/v8/settings/modules", kind="modules", stream="x")
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
    assert sim.base_url in str(raised.value)
    assert "connection refused" in str(raised.value)


def test_connections_cut_mid_run_are_retried(sim: Simulator, tmp_path: Path) -> None:
    for spec in ("create:reset:nth=2", "poll:reset:first=2", "download:reset:first=2"):
        sim.faults.add(spec)
    modules = ["Contacts", "Leads"]
    run = run_tap(tmp_path, config_for(sim, modules=modules))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_exact(run.result, sim, modules)
    assert sum(sim.stats()["faults_fired"].values()) == 5  # type: ignore[union-attr]


# -- every command-line path speaks in one line ------------------------------------------------


def test_discovery_of_an_unknown_module_says_so_in_one_line(sim: Simulator, tmp_path: Path) -> None:
    run = run_tap(tmp_path, config_for(sim, modules=["Nope"]), args=["--discover"])
    assert_one_error(run, "Unknown or non-exportable module(s) Nope")


def test_discovery_with_a_wrong_secret_says_so_in_one_line(sim: Simulator, tmp_path: Path) -> None:
    config = config_for(sim, client_secret=secrets.token_hex(16))
    run = run_tap(tmp_path, config, args=["--discover"])
    assert_one_error(run, "Zoho rejected the OAuth client", "client_secret")
    assert config["client_secret"] not in run.stderr


@pytest.mark.parametrize("args", [["--discover"], ["--test"]])
def test_an_unreachable_host_says_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    port = dead_port()
    run = run_tap(tmp_path, credentials(accounts_url=f"http://127.0.0.1:{port}"), args=args)
    assert_one_error(run, f"127.0.0.1:{port}", "accounts_url")


# -- Zoho's download lockout -------------------------------------------------------------------

LOCKOUT = {"download_limit_per_minute": 2, "download_window_seconds": 1.0}


@pytest.mark.parametrize("retry_after", [True, False], ids=["retry-after", "no-header"])
def test_two_extractors_sharing_the_download_allowance_both_finish(
    tmp_path: Path, retry_after: bool
) -> None:
    """Two extractors of one org (the README's "Scaling out"), each pacing itself far above
    what the org allows (2 downloads a second here): they lock each other out and must wait."""
    extractors = {"sales": ["Deals", "Leads", "Accounts"], "service": ["Contacts", "Tasks"]}
    options = {**LOCKOUT, "download_retry_after": retry_after}
    with simulator(seed=31, records=40, page_size=20, **options) as sim:
        # Without Retry-After the tap waits a whole minute, or request_backoff_max_seconds.
        overrides = {} if retry_after else {"request_backoff_max_seconds": 1.0}
        runs: dict[str, CliRun] = {}

        def extract(name: str, modules: list[str]) -> None:
            (tmp_path / name).mkdir()
            # downloads_per_minute stays at the harness's 1000 (the default 10 would do as well,
            # but its own one-minute pacing would then dominate the test's time).
            config = config_for(sim, modules=modules, **overrides)
            runs[name] = run_tap(tmp_path / name, config)

        threads = [threading.Thread(target=extract, args=item) for item in extractors.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        for name, modules in extractors.items():
            assert runs[name].returncode == 0, runs[name].stderr[-3000:]
            assert_exact(runs[name].result, sim, modules)
        assert sim.stats()["downloads"]["refused"] > 0  # type: ignore[index]
        waits = "".join(run.stderr for run in runs.values()).count("download limit is reached")
        assert waits > 0


def lockout_client(sim: Simulator, **config: Any) -> tuple[ZohoClient, str]:
    """The tap's own client, and the result URL of a finished job it has downloaded once."""
    client = TapZohoBulk(config=config_for(sim, modules=["Leads"], **config)).client
    answer = client.request(
        "POST",
        "/crm/bulk/v8/read",
        kind="create",
        stream="x",
        json={"query": {"module": {"api_name": "Leads"}}},
    ).json()
    url = f"/crm/bulk/v8/read/{answer['data'][0]['details']['id']}/result"
    return client, url


def test_a_download_waits_as_long_as_retry_after_says(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    options = {"download_limit_per_minute": 1, "download_window_seconds": 2.0}
    with simulator(records=5, download_retry_after=True, **options) as sim:
        client, url = lockout_client(sim)
        client.download(url, tmp_path / "first.zip", kind="download", stream="x")
        started = time.monotonic()
        with caplog.at_level(logging.INFO):
            client.download(url, tmp_path / "second.zip", kind="download", stream="x")
        assert 1.0 <= time.monotonic() - started < 4.0
        waits = [r.getMessage() for r in caplog.records if "download limit" in r.getMessage()]
        assert len(waits) == 1
        assert "another tool may be downloading" in waits[0]
        assert "waiting 2s" in waits[0] or "waiting 1s" in waits[0]


def test_a_download_never_waits_past_its_deadline(tmp_path: Path) -> None:
    options = {"download_limit_per_minute": 1, "download_window_seconds": 30.0}
    with simulator(records=5, download_retry_after=True, **options) as sim:
        client, url = lockout_client(sim)
        client.download(url, tmp_path / "first.zip", kind="download", stream="x")
        started = time.monotonic()
        deadline = started + 0.5
        with pytest.raises(DownloadLockedError, match="stayed locked"):
            client.download(url, tmp_path / "x.zip", kind="download", stream="x", deadline=deadline)
        assert 0.4 <= time.monotonic() - started < 2.0
        assert sim.stats()["downloads"] == {"served": 1, "refused": 2}


def test_without_retry_after_a_download_waits_the_minute_unless_the_run_stops(
    tmp_path: Path,
) -> None:
    with simulator(records=5, download_limit_per_minute=1) as sim:  # a real one-minute window
        client, url = lockout_client(sim, request_backoff_max_seconds=60.0)
        client.download(url, tmp_path / "first.zip", kind="download", stream="x")
        stop = threading.Event()
        threading.Timer(0.5, stop.set).start()
        started = time.monotonic()
        with pytest.raises(DownloadLockedError, match="stopped"):
            client.download(url, tmp_path / "x.zip", kind="download", stream="x", stop=stop)
        assert time.monotonic() - started < 3.0


def test_the_download_limiter_never_waits_past_a_deadline_or_a_stop() -> None:
    limiter = DownloadLimiter(per_minute=1)
    assert limiter.acquire() == 0.0
    started = time.monotonic()
    with pytest.raises(DownloadLockedError):
        limiter.acquire(deadline=started + 0.3)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(DownloadLockedError, match="stopped"):
        limiter.acquire(stop=stop)
    assert time.monotonic() - started < 3.0
