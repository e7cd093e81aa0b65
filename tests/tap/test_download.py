"""The one download-and-verify loop that Bulk Read pages and Bulk Write results share."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tap_zoho_bulk.errors import CorruptArchiveError, ResultFileError, UnsafeArchiveError
from tap_zoho_bulk.zoho.download import DOWNLOAD_ATTEMPTS, download_verified

LOGGER = logging.getLogger("test-download")


class Client:
    """Writes a body per download, as ZohoClient.download does."""

    def __init__(self) -> None:
        self.downloads = 0

    def download(self, url: str, dest: Path, **_: Any) -> int:
        self.downloads += 1
        dest.write_bytes(b"zip")
        return 3


class Verdicts:
    """Raises the given errors in turn, then passes."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def __call__(self, path: Path) -> None:
        if self.errors:
            raise self.errors.pop(0)


def download(tmp_path: Path, client: Client, verify: Verdicts) -> int:
    return download_verified(
        client,  # type: ignore[arg-type]
        "/result",
        tmp_path / "result.zip",
        verify=verify,
        what="job 1 of 'Leads' page 2",
        kind="download",
        stream="Leads",
        logger=LOGGER,
        then="the next run resumes from the last STATE",
    )


def test_a_damaged_result_is_downloaded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()

    with caplog.at_level(logging.WARNING):
        size = download(tmp_path, client, Verdicts(CorruptArchiveError("cut")))

    assert (size, client.downloads) == (3, 2)
    assert [r.getMessage() for r in caplog.records] == [
        "The result of job 1 of 'Leads' page 2 is damaged (cut); downloading it again (2 of 3)."
    ]


def test_a_result_damaged_every_time_stops_and_is_deleted(tmp_path: Path) -> None:
    client = Client()
    damaged = [CorruptArchiveError("cut")] * DOWNLOAD_ATTEMPTS

    with pytest.raises(ResultFileError, match=r"damaged in 3 downloads \(cut\); the next run"):
        download(tmp_path, client, Verdicts(*damaged))

    assert client.downloads == DOWNLOAD_ATTEMPTS
    assert not (tmp_path / "result.zip").exists()


def test_an_unsafe_result_is_refused_at_once_and_deleted(tmp_path: Path) -> None:
    client = Client()

    with pytest.raises(ResultFileError, match=r"Refusing the result of job 1 .*: two members"):
        download(tmp_path, client, Verdicts(UnsafeArchiveError("two members")))

    assert client.downloads == 1
    assert not (tmp_path / "result.zip").exists()
