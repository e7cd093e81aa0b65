"""A small simulator for the reliability tests that need no particular data layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.tap.harness import simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulator(seed=21, records=70, page_size=25) as sim:
        yield sim
