"""The download lockout's options: a shorter window for tests, and an optional Retry-After."""

from __future__ import annotations

import time

import pytest

from tap_zoho_bulk.simulator import Simulator, run_simulator
from tap_zoho_bulk.simulator.cli import build_parser


def test_by_default_the_lockout_lasts_a_minute_and_sends_no_retry_after(make_api):
    with run_simulator(records=5, download_limit_per_minute=1) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        assert api.download("v8", job_id).status_code == 200
        refused = api.download("v8", job_id)
        assert refused.status_code == 429
        assert "Retry-After" not in refused.headers
        sim.advance(59)
        assert api.download("v8", job_id).status_code == 429
        sim.advance(1)
        assert api.download("v8", job_id).status_code == 200


def test_retry_after_says_when_the_window_frees_a_download(make_api):
    with run_simulator(records=5, download_limit_per_minute=2, download_retry_after=True) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        assert api.download("v8", job_id).status_code == 200
        sim.advance(20)
        assert api.download("v8", job_id).status_code == 200
        refused = api.download("v8", job_id)
        assert (refused.status_code, refused.json()["code"]) == (429, "TOO_MANY_REQUESTS")
        assert refused.headers["Retry-After"] == "40"  # the first download leaves the window
        sim.advance(40)
        assert api.download("v8", job_id).status_code == 200


def test_a_short_window_frees_downloads_in_real_time(make_api):
    options = {"download_limit_per_minute": 1, "download_window_seconds": 0.5}
    with run_simulator(records=5, download_retry_after=True, **options) as sim:
        api = make_api(sim)
        job_id = api.create_id("v8", {"module": "Leads"})
        assert api.download("v8", job_id).status_code == 200
        refused = api.download("v8", job_id)
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
        time.sleep(0.6)
        assert api.download("v8", job_id).status_code == 200
        assert sim.stats()["downloads"] == {"served": 2, "refused": 1}


def test_the_window_must_be_positive():
    with pytest.raises(ValueError, match="download_window_seconds"):
        Simulator(download_window_seconds=0)


def test_the_command_line_sets_both_options():
    args = build_parser().parse_args(["--download-window", "2.5", "--download-retry-after"])
    assert (args.download_window, args.download_retry_after) == (2.5, True)
    defaults = build_parser().parse_args([])
    assert (defaults.download_window, defaults.download_retry_after) == (60.0, False)
