"""Fixtures for the tap's tests: a real simulator on an ephemeral loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.tap.harness import simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulator(seed=7, records=120, page_size=50) as sim:
        yield sim
