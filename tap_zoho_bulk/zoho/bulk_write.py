"""Bulk Write jobs the user names: a job's details, and the result file of a finished one.

The tap never writes; it reports jobs another tool ran. Zoho cannot list them (reference §9.3),
so each is fetched by id. Their result files are downloaded and checked like a Bulk Read
result, from the `download_url` Zoho gives, which is absolute on Zoho's download host (or a
path on the API domain in older docs): the client refuses to send the token anywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import msgspec

from tap_zoho_bulk.errors import UnsafeURLError, ZohoAPIError
from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion
from tap_zoho_bulk.zoho.download import download_verified
from tap_zoho_bulk.zoho.wire import WriteJob, id_text


def fetch_job(
    client: ZohoClient, version: ApiVersion, job_id: str, *, stream: str, logger: logging.Logger
) -> WriteJob | None:
    """The job's details, its `id` a string; None, with a warning, when Zoho has no such job."""
    try:
        job = client.get_as(
            WriteJob, f"/crm/bulk/{version.name}/write/{job_id}", kind="write", stream=stream
        )
    except ZohoAPIError as exc:
        # 400 in the v2.1 capture (seed 003), 404 on the v2 doc page (seed 004).
        if exc.code != "RESOURCE_NOT_FOUND":
            raise
        logger.warning(
            "Bulk write job %s does not exist in this Zoho org (RESOURCE_NOT_FOUND); "
            "remove it from bulk_write_job_ids.",
            job_id,
        )
        return None
    return msgspec.structs.replace(job, id=id_text(job.id) or job_id)


def download_result(
    client: ZohoClient,
    job_id: str,
    url: str,
    dest: Path,
    *,
    verify: Callable[[Path], None],
    stream: str,
    logger: logging.Logger,
) -> bool:
    """Download a finished job's result ZIP to `dest`, checked by `verify` (see
    `download_verified`); False, with a warning, when Zoho no longer has it."""
    try:
        download_verified(
            client,
            url,
            dest,
            verify=verify,
            what=f"bulk write job {job_id}",
            kind="write",
            stream=stream,
            logger=logger,
            then="run the tap again to read it",
        )
    except UnsafeURLError as exc:
        msg = f"Not downloading the result of bulk write job {job_id}: {exc}"
        raise UnsafeURLError(msg) from None
    except ZohoAPIError as exc:
        if exc.code != "RESOURCE_NOT_FOUND":
            raise
        logger.warning(
            "The result file of bulk write job %s is no longer available at Zoho.", job_id
        )
        return False
    return True
