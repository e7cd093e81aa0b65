"""The simulator as a process: one JSON line, serves, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

import tap_zoho_bulk
from tap_zoho_bulk.simulator import Simulator

ROOT = Path(tap_zoho_bulk.__file__).parents[1]


def launch(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tap_zoho_bulk.simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def first_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the simulator printed nothing"
    return process.stdout.readline()


def access_token(info: dict[str, str]) -> str:
    """A token from the simulator the CLI started, as any Zoho client would mint it."""
    answer = requests.post(
        f"{info['accounts_url']}/oauth/v2/token",
        params={
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": info["refresh_token"],
        },
        timeout=10,
    )
    return str(answer.json()["access_token"])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_one_json_line_serves_and_stops_cleanly(signum):
    process = launch("--records", "20", "--page-size", "10", "--fault", "modules:503:once")
    try:
        info = json.loads(first_line(process))
        assert set(info) == {
            "base_url",
            "accounts_url",
            "api_domain",
            "client_id",
            "client_secret",
            "refresh_token",
        }
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["accounts_url"] == info["api_domain"] == info["base_url"]
        token = access_token(info)
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        modules = f"{info['api_domain']}/crm/v8/settings/modules"
        assert requests.get(modules, headers=headers, timeout=10).status_code == 503
        assert requests.get(modules, headers=headers, timeout=10).status_code == 200
        created = requests.post(
            f"{info['api_domain']}/crm/bulk/v8/read",
            json={"query": {"module": "Leads"}},
            headers=headers,
            timeout=10,
        ).json()["data"][0]["details"]["id"]
        result = f"{info['api_domain']}/crm/bulk/v8/read/{created}/result"
        assert requests.get(result, headers=headers, timeout=10).status_code == 200
        stats = requests.get(f"{info['base_url']}/__simulator__/stats", timeout=10).json()
        workdir = Path(stats["workdir"])
        assert workdir.is_dir()
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert out == ""
        assert not workdir.exists()
    finally:
        process.kill()
        process.wait()


def test_cli_refuses_a_non_loopback_host_in_one_line():
    process = launch("--host", "0.0.0.0")
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "loopback" in err


def test_cli_refuses_a_bad_fault_spec():
    process = launch("--fault", "everything:500")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "target must be one of" in err


def test_non_loopback_needs_the_explicit_flag():
    with pytest.raises(ValueError, match="loopback"):
        Simulator(host="0.0.0.0", records=1)
    assert Simulator(host="0.0.0.0", records=1, allow_non_loopback=True).base_url == ""
    assert Simulator(host="localhost", records=1).base_url == ""


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_serving_a_million_record_module_stays_under_200_mb():
    process = launch("--records", "10", "--per-module", "Leads=1000000")
    try:
        info = json.loads(first_line(process))
        session = requests.Session()
        token = access_token(info)
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        for page, more in [(1, True), (5, False)]:
            job_id = session.post(
                f"{info['api_domain']}/crm/bulk/v2/read",
                json={"query": {"module": "Leads", "page": page}},
                headers=headers,
                timeout=30,
            ).json()["data"][0]["details"]["id"]
            job = session.get(
                f"{info['api_domain']}/crm/bulk/v2/read/{job_id}", headers=headers, timeout=30
            ).json()["data"][0]
            assert (job["result"]["count"], job["result"]["more_records"]) == (200_000, more)
            with session.get(
                info["api_domain"] + job["result"]["download_url"],
                headers=headers,
                stream=True,
                timeout=60,
            ) as response:
                size = sum(len(chunk) for chunk in response.iter_content(1 << 20))
            assert size == int(response.headers["Content-Length"]) > 10_000_000
        assert peak_rss_kib(process.pid) < 200 * 1024
    finally:
        process.kill()
        process.wait()
