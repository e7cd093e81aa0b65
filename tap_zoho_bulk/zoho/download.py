"""A result file downloaded and checked whole, downloaded again while it arrives damaged.

A cut or corrupted transfer can be a complete HTTP response (the body is simply wrong), so only
the archive itself tells; it must tell before any of its records is emitted. Checking archives
is the results layer's business: the caller passes the check in, and it raises
CorruptArchiveError (worth another download) or UnsafeArchiveError (refused unread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tap_zoho_bulk.errors import (
    CorruptArchiveError,
    DownloadLockedError,
    ResultFileError,
    UnsafeArchiveError,
)
from tap_zoho_bulk.zoho.client import ZohoClient

DOWNLOAD_ATTEMPTS = 3  # downloads of one result before a damaged file stops the run


def _go_on() -> None:
    """Nothing stops the download."""


def download_verified(
    client: ZohoClient,
    url: str,
    dest: Path,
    *,
    verify: Callable[[Path], None],
    what: str,
    kind: str,
    stream: str,
    logger: logging.Logger,
    then: str,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    check_running: Callable[[], None] = _go_on,
) -> int:
    """Download `url` to `dest` and verify it, at most DOWNLOAD_ATTEMPTS times; its size.

    `what` names the result in messages ("job 1 of 'Leads' page 2"), `then` says what the user
    may do once every download was damaged. `check_running` raises when the run is stopping:
    it is asked before each download and when a download limit wait ends early. A refused or
    always damaged file is deleted and raises ResultFileError.
    """
    attempt = 1
    while True:
        check_running()
        try:
            size = client.download(
                url, dest, kind=kind, stream=stream, deadline=deadline, stop=stop
            )
        except DownloadLockedError:
            check_running()  # stopped while waiting: the run is ending, not failing
            raise
        try:
            verify(dest)
        except UnsafeArchiveError as exc:
            dest.unlink(missing_ok=True)
            msg = f"Refusing the result of {what}: {exc}. None of its records were emitted."
            raise ResultFileError(msg) from None
        except CorruptArchiveError as exc:
            if attempt == DOWNLOAD_ATTEMPTS:
                dest.unlink(missing_ok=True)
                msg = f"The result of {what} was damaged in {attempt} downloads ({exc}); {then}."
                raise ResultFileError(msg) from None
            logger.warning(
                "The result of %s is damaged (%s); downloading it again (%d of %d).",
                what,
                exc,
                attempt + 1,
                DOWNLOAD_ATTEMPTS,
            )
            attempt += 1
            continue
        return size
