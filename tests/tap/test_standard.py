"""singer-sdk's own tap test suite, with a fixed catalog, against a running simulator."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_zoho_bulk.simulator import Simulator
from tap_zoho_bulk.tap import TapZohoBulk
from tests.tap.harness import config_for

# The suite's classes are built at import time, so the simulator has to be running by then.
_SIMULATOR = Simulator(seed=11, records=40, page_size=25, download_limit_per_minute=1000)
_SIMULATOR.start()
atexit.register(_SIMULATOR.stop)
CONFIG = config_for(_SIMULATOR)
CATALOG = TapZohoBulk(config=CONFIG).catalog_dict

TestTapZohoBulk = get_tap_test_class(TapZohoBulk, config=CONFIG, catalog=CATALOG)
