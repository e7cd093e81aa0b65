"""`tap-zoho-bulk-simulator`: run the simulator as a process.

Prints exactly one JSON line (URLs and the credentials it accepts) so scripts can read where it
listens, then serves until SIGINT or SIGTERM and exits 0 after removing its temp files.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from types import FrameType

from . import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Simulator
from .faults import FaultSpecError, parse_fault

_ADMIN_HELP = """\
admin API (no auth, no credits), under the printed base_url:
  GET  /__simulator__/stats
  POST /__simulator__/advance {"seconds": S}      move the simulated clock
  POST /__simulator__/mutate  {"add": N, "modify": N, "delete": N, "permanent": false,
                               "purge": N, "restore": N}
       N is a count for every exportable module or {"Leads": count}; delete, purge and
       restore also take {"Leads": ["<record id>", ...]}. delete moves records to the
       recycle bin (or deletes them for good with "permanent": true), purge empties the bin
       for those records, restore brings them back. Answers the ids per module.
  GET|POST|DELETE /__simulator__/faults, POST /__simulator__/expire-tokens,
  POST /__simulator__/expire-page-tokens
"""


def _module_count(text: str) -> tuple[str, int]:
    name, sep, count = text.partition("=")
    if not sep or not name or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected MODULE=N, got {text!r}")
    return name, int(count)


def _fault(text: str) -> str:
    try:
        parse_fault(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag maps to a Simulator option."""
    parser = argparse.ArgumentParser(
        prog="tap-zoho-bulk-simulator",
        description=(
            "Local Zoho CRM simulator (accounts server, metadata, Bulk Read/Write APIs, "
            "deleted records, COQL)."
        ),
        epilog=_ADMIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    add("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    add("--allow-non-loopback", action="store_true", help="required to bind a non-loopback host")
    add("--seed", type=int, default=1, help="data seed (default 1)")
    add("--records", type=int, default=1000, help="records per module (default 1000)")
    add(
        "--per-module",
        type=_module_count,
        action="append",
        default=[],
        metavar="MODULE=N",
        help="record count for one module (repeatable)",
    )
    add("--page-size", type=int, default=200_000, help="records per bulk read page")
    add("--job-seconds", type=float, default=0.0, help="seconds from ADDED to COMPLETED")
    add("--utc-offset", default="+05:30", help="offset of exported datetimes (default +05:30)")
    add("--multiselect-separator", default=";", help="multi-select picklist separator")
    add("--client-id", default=DEFAULT_CLIENT_ID)
    add("--client-secret", default=DEFAULT_CLIENT_SECRET)
    add("--refresh-token", default=DEFAULT_REFRESH_TOKEN)
    add("--token-lifetime", type=int, default=3600, help="access token lifetime, seconds")
    add("--download-limit", type=int, default=10, help="result downloads per minute")
    add(
        "--download-window",
        type=float,
        default=60.0,
        help="seconds the download limit counts over, and at most locks downloads (default 60)",
    )
    add(
        "--download-retry-after",
        action="store_true",
        help="send Retry-After with the download limit's 429 (Zoho is not known to)",
    )
    add("--max-in-flight-jobs", type=int, default=20, help="unfinished bulk read jobs allowed")
    add("--result-retention", type=float, default=86_400, help="seconds results stay downloadable")
    add("--page-token-lifetime", type=float, default=86_400, help="seconds a page_token lives")
    add(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. download:503:once or fail-module:Leads (repeatable)",
    )
    add(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        metavar="ISO",
        help="lay data out before this aware time instead of now (for reproducible data)",
    )
    add("--verbose", action="store_true", help="log each request (method, path, status) to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m tap_zoho_bulk.simulator`."""
    args = build_parser().parse_args(argv)
    try:
        simulator = Simulator(
            seed=args.seed,
            records=args.records,
            per_module=dict(args.per_module) or None,
            page_size=args.page_size,
            job_seconds=args.job_seconds,
            utc_offset=args.utc_offset,
            multiselect_separator=args.multiselect_separator,
            client_id=args.client_id,
            client_secret=args.client_secret,
            refresh_token=args.refresh_token,
            token_lifetime=args.token_lifetime,
            download_limit_per_minute=args.download_limit,
            download_window_seconds=args.download_window,
            download_retry_after=args.download_retry_after,
            result_retention_seconds=args.result_retention,
            page_token_lifetime=args.page_token_lifetime,
            max_in_flight_jobs=args.max_in_flight_jobs,
            host=args.host,
            port=args.port,
            allow_non_loopback=args.allow_non_loopback,
            verbose=args.verbose,
            now=args.now,
        )
        for spec in args.fault:
            simulator.faults.add(spec)
        simulator.start()
    except (ValueError, OSError) as exc:
        print(f"tap-zoho-bulk-simulator: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        info = {"base_url": simulator.base_url, **simulator.tap_config()}
        print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0
