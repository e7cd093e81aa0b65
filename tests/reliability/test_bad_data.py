"""Bad data inside a result file, end to end: each kind has a defined, logged behaviour, and the
rest of the stream arrives intact.

The fault hits page 2 of 3 of one module (downloads of one module come in page order), and every
emitted value is compared with the simulator's data: exactly the damaged cell or row differs.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tap_zoho_bulk.simulator import Simulator
from tests.reliability.support import expected_ids
from tests.tap.harness import SyncResult, config_for, sync
from tests.tap.test_sync import oracle

MODULE = "Leads"


def sync_with(sim: Simulator, action: str, caplog: pytest.LogCaptureFixture) -> SyncResult:
    sim.faults.add(f"download:{action}:nth=2")
    with caplog.at_level(logging.WARNING):
        result = sync(config_for(sim, modules=[MODULE]))
    assert sim.stats()["faults_fired"] == {f"download:{action}:nth=2": 1}
    assert "bulk_job" not in result.state["bookmarks"][MODULE]  # the stream completed
    return result


def differences(result: SyncResult, sim: Simulator) -> list[tuple[str, str, Any, Any]]:
    """(Id, column, emitted, expected) for every emitted value that is not the simulator's."""
    expected = oracle(sim, MODULE, result.schemas[MODULE])
    found = []
    for record in result.records[MODULE]:
        assert list(record) == list(result.schemas[MODULE]["properties"])
        want = expected[record["Id"]]
        found += [(record["Id"], c, record[c], want[c]) for c in record if record[c] != want[c]]
    return found


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_row_with_the_wrong_number_of_columns_is_skipped_and_named(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = sync_with(sim, "bad-row", caplog)
    ids = result.ids(MODULE)
    missing = expected_ids(sim, MODULE) - set(ids)
    assert len(missing) == 1
    assert len(ids) == len(set(ids)) == len(expected_ids(sim, MODULE)) - 1
    assert differences(result, sim) == []
    (logged,) = warnings(caplog, "columns instead of")
    assert missing.pop() in logged


def test_invalid_utf8_becomes_replacement_characters_in_that_cell_only(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = sync_with(sim, "bad-utf8", caplog)
    assert set(result.ids(MODULE)) == expected_ids(sim, MODULE)
    ((_, _, emitted, expected),) = differences(result, sim)
    assert emitted.replace("\N{REPLACEMENT CHARACTER}", "") == expected
    assert emitted.count("\N{REPLACEMENT CHARACTER}") == 2  # one per invalid byte
    assert len(warnings(caplog, "bytes of invalid UTF-8")) == 1


def test_a_value_not_of_its_type_becomes_null_and_is_named(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = sync_with(sim, "bad-value", caplog)
    assert set(result.ids(MODULE)) == expected_ids(sim, MODULE)
    ((record_id, column, emitted, expected),) = differences(result, sim)
    assert emitted is None
    assert expected is not None
    (logged,) = warnings(caplog, "is not a valid")
    assert record_id in logged
    assert repr(column) in logged


def test_a_column_added_since_discovery_is_dropped_with_one_warning(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    result = sync_with(sim, "extra-column", caplog)
    assert set(result.ids(MODULE)) == expected_ids(sim, MODULE)
    assert differences(result, sim) == []  # records carry exactly the catalog's columns
    (logged,) = warnings(caplog, "which the catalog does not know")
    assert "Field_Added_Since_Discovery" in logged
    assert "Re-run discovery" in logged
