"""singer-sdk's own tap test suite, with a fixed catalog, against a running simulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_zoho_bulk.simulator import BULK_WRITE_JOB_IDS, Simulator
from tap_zoho_bulk.singer.tap import TapZohoBulk
from tests.tap.harness import config_for

# The suite's classes are built at import time, so the simulator has to be running by then.
_SIMULATOR = Simulator(seed=11, records=40, page_size=25, download_limit_per_minute=1000)
_SIMULATOR.start()
atexit.register(_SIMULATOR.stop)
# A few deletions in every module, so that deleted_records has records too.
_SIMULATOR.mutate(delete=2)
CONFIG = config_for(_SIMULATOR, bulk_write_job_ids=list(BULK_WRITE_JOB_IDS.values()))
CATALOG = TapZohoBulk(config=CONFIG).catalog_dict
# Every stream selected, the audit stream included, so the suite sees records from each.
for _entry in CATALOG["streams"]:
    for _item in _entry["metadata"]:
        if _item["breadcrumb"] == []:
            _item["metadata"]["selected"] = True

TestTapZohoBulk = get_tap_test_class(TapZohoBulk, config=CONFIG, catalog=CATALOG)
