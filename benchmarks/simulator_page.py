"""How fast the simulator writes one Bulk Read result page, and how much memory it needs.

Writes page 1 of Leads (all ~40 columns) as the ZIP the server would serve, to a temporary file,
and prints rows/s and seconds; then the same with a Modified_Time window criteria; then, with
--million, pages through a 1,000,000-record module and reports peak RSS.

    .venv/bin/python benchmarks/simulator_page.py [--rows 200000] [--million]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime

from tap_zoho_bulk.simulator.data import Dataset

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def write(
    dataset: Dataset, module: str, rows: int, page: int, criteria: dict[str, object] | None
) -> None:
    columns = dataset.resolve_columns(module, None)
    with tempfile.TemporaryFile() as dest:
        started, cpu = time.perf_counter(), time.process_time()
        info = dataset.write_page(
            dest,
            job_id="4150868000005400001",
            module=module,
            columns=columns,
            criteria=criteria,
            page=page,
            per_page=rows,
            snapshot=dataset.snapshot(),
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        size = dest.tell()
    label = "criteria" if criteria else "all"
    print(
        f"{module} page {page} ({label}): {info.count} rows x {len(columns) + 1} cols, "
        f"{size / 1e6:.1f} MB zip, {seconds:.2f} s ({cpu:.2f} s CPU), "
        f"{info.count / seconds:,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--million", action="store_true")
    args = parser.parse_args()

    dataset = Dataset(seed=1, records=args.rows, now=NOW)
    started = time.perf_counter()
    dataset.count_page(
        module="Leads", criteria=None, page=1, per_page=1, snapshot=dataset.snapshot()
    )
    print(f"pool setup: {time.perf_counter() - started:.2f} s")
    write(dataset, "Leads", args.rows, 1, None)
    window: dict[str, object] = {
        "group_operator": "and",
        "group": [
            {
                "api_name": "Modified_Time",
                "comparator": "greater_equal",
                "value": "2024-06-01T00:00:00+00:00",
            },
            {
                "api_name": "Modified_Time",
                "comparator": "less_than",
                "value": "2025-06-01T00:00:00+05:30",
            },
        ],
    }
    write(dataset, "Leads", args.rows, 1, window)

    if args.million:
        big = Dataset(seed=1, records=1_000_000, now=NOW)
        for page in range(1, 6):
            write(big, "Leads", 200_000, page, None)
        write(big, "Leads", 200_000, 3, window)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS after paging 1,000,000 Leads: {peak:.0f} MB")


if __name__ == "__main__":
    main()
