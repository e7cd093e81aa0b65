"""Cheap proofs that a run would be allowed to read: what a connection check asks Zoho.

A Bulk Read job costs 50 credits and may wait minutes in Zoho's queue, so a connection check
must not create one. The scope it needs (`ZohoCRM.bulk.read`) can still be proved for one
credit: Zoho checks a call's OAuth scope before it looks the resource up, so asking for the
status of a job that cannot exist answers `RESOURCE_NOT_FOUND` to a token that may read bulk
jobs and `OAUTH_SCOPE_MISMATCH` to one that may not (seeds 0 and 3 show both answers).
"""

from __future__ import annotations

from tap_zoho_bulk.errors import RetryableAPIError, ZohoAPIError
from tap_zoho_bulk.zoho.client import ZohoClient
from tap_zoho_bulk.zoho.criteria import ApiVersion

#: A job id no org has (Zoho's ids are 18-19 digits that start with the org's prefix).
NO_SUCH_JOB = "1000000000000000001"

#: What Zoho answers for a job id it does not have: 404 on bulk read (seed 0), 400 in the
#: bulk write sample (seed 3).
NOT_FOUND_CODES = frozenset({"RESOURCE_NOT_FOUND", "INVALID_DATA"})


def prove_bulk_read(client: ZohoClient, version: ApiVersion, *, stream: str) -> None:
    """Raise the scope error (with its hint) unless this token may read Bulk Read jobs."""
    path = f"/crm/bulk/{version.name}/read/{NO_SUCH_JOB}"
    try:
        client.request("GET", path, kind="poll", stream=stream)
    except ZohoAPIError as exc:
        if isinstance(exc, RetryableAPIError) or exc.code not in NOT_FOUND_CODES:
            raise
